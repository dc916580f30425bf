// Command flow-runner is the test suite's stand-in for the platform's flow runtime (README.md):
// it runs one shard of a batch scoring flow as the chart's flow Job starts it. It reads the flow
// configuration the chart renders (FLOW_CONFIG), the records of the flow's source channel, calls
// the scoring service of each model step over the Open Inference Protocol (v2 REST), evaluates
// each expression step, and writes the scored records to the flow's sink channel.
//
// Test-only and deliberately small: the one channel type it speaks is `http` (GET the source's
// url for JSON lines, POST JSON lines to the sink's url), a record's model input is its
// `features` field, and expressions are a small C-like subset (expr.go). Anything else is an
// error that names what is not supported, before any record is read.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Records per inference request.
const batchSize = 32

// A model call is tried this often on a connection error or a 5xx, this far apart.
const (
	attempts      = 5
	retryInterval = 2 * time.Second
)

// The part of the chart's flow.yaml (charts/modelops/charts/scoring-flow) the runner uses.
type flowConfig struct {
	Flow            string    `yaml:"flow"`
	Source          channel   `yaml:"source"`
	Sink            channel   `yaml:"sink"`
	ScoringServices []service `yaml:"scoringServices"`
	Steps           []step    `yaml:"steps"`
}

type channel struct {
	Name   string            `yaml:"name"`
	Type   string            `yaml:"type"`
	Format string            `yaml:"format"`
	Config map[string]string `yaml:"config"`
}

type service struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
}

type step struct {
	Name           string `yaml:"name"`
	Model          string `yaml:"model"`
	ScoringService string `yaml:"scoringService"`
	Expression     string `yaml:"expression"`
}

// A record of a channel: one JSON object.
type record = map[string]any

// A step ready to run: a model call or a parsed expression.
type runnable interface {
	apply(records []record) error
}

type modelStep struct {
	name, model, inferURL string
	requests              int
}

type expressionStep struct {
	name string
	expr node
}

var client = &http.Client{Timeout: 30 * time.Second}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "flow-runner: error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	path := os.Getenv("FLOW_CONFIG")
	if path == "" {
		return fmt.Errorf("FLOW_CONFIG is not set")
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var config flowConfig
	if err := yaml.Unmarshal(text, &config); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	shard, shards, err := shardOf()
	if err != nil {
		return err
	}
	// Everything is checked before a record is read.
	sourceURL, err := httpURL("source", config.Source)
	if err != nil {
		return err
	}
	sinkURL, err := httpURL("sink", config.Sink)
	if err != nil {
		return err
	}
	steps, err := compile(config)
	if err != nil {
		return err
	}

	all, err := readSource(sourceURL)
	if err != nil {
		return fmt.Errorf("source channel %s: %v", config.Source.Name, err)
	}
	// Shard i of n takes the records at positions i, i+n, i+2n, ...
	var records []record
	for i := shard; i < len(all); i += shards {
		records = append(records, all[i])
	}
	fmt.Printf("flow-runner: flow %s, shard %d of %d: %d of %d records from channel %s\n",
		config.Flow, shard, shards, len(records), len(all), config.Source.Name)

	for start := 0; start < len(records); start += batchSize {
		batch := records[start:min(start+batchSize, len(records))]
		for i, s := range steps {
			if err := s.apply(batch); err != nil {
				return fmt.Errorf("step %s, records %d-%d of shard %d: %v",
					config.Steps[i].Name, start, start+len(batch)-1, shard, err)
			}
		}
	}
	for _, s := range steps {
		if m, ok := s.(*modelStep); ok {
			fmt.Printf("flow-runner: step %s: %d inference requests to model %s\n", m.name, m.requests, m.model)
		}
	}

	if err := writeSink(sinkURL, records); err != nil {
		return fmt.Errorf("sink channel %s: %v", config.Sink.Name, err)
	}
	fmt.Printf("flow-runner: wrote %d scored records to channel %s\n", len(records), config.Sink.Name)
	return nil
}

// The Job's shard: JOB_COMPLETION_INDEX (an Indexed Job's) of SHARD_COUNT (the chart's).
func shardOf() (int, int, error) {
	shards, err := strconv.Atoi(os.Getenv("SHARD_COUNT"))
	if err != nil || shards < 1 {
		return 0, 0, fmt.Errorf("SHARD_COUNT %q is not a positive number", os.Getenv("SHARD_COUNT"))
	}
	shard, err := strconv.Atoi(os.Getenv("JOB_COMPLETION_INDEX"))
	if err != nil || shard < 0 || shard >= shards {
		return 0, 0, fmt.Errorf("JOB_COMPLETION_INDEX %q is not a shard of %d", os.Getenv("JOB_COMPLETION_INDEX"), shards)
	}
	return shard, shards, nil
}

func httpURL(role string, c channel) (string, error) {
	if c.Type != "http" {
		return "", fmt.Errorf("%s channel %s: type %q is not supported by the test flow runner (only http)", role, c.Name, c.Type)
	}
	u, err := url.Parse(c.Config["url"])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s channel %s: config.url %q is not an http(s) URL", role, c.Name, c.Config["url"])
	}
	return u.String(), nil
}

func compile(config flowConfig) ([]runnable, error) {
	services := map[string]string{}
	for _, s := range config.ScoringServices {
		services[s.Name] = strings.TrimSuffix(s.URL, "/")
	}
	var steps []runnable
	for _, s := range config.Steps {
		switch {
		case s.Model != "":
			base, ok := services[s.ScoringService]
			if !ok {
				return nil, fmt.Errorf("step %s: scoring service %q is not among the flow's scoringServices", s.Name, s.ScoringService)
			}
			steps = append(steps, &modelStep{
				name:     s.Name,
				model:    s.Model,
				inferURL: base + "/v2/models/" + url.PathEscape(s.Model) + "/infer",
			})
		case s.Expression != "":
			expr, err := parse(s.Expression)
			if err != nil {
				return nil, fmt.Errorf("step %s: expression %q: %v", s.Name, s.Expression, err)
			}
			steps = append(steps, &expressionStep{name: s.Name, expr: expr})
		default:
			return nil, fmt.Errorf("step %s has neither a model nor an expression", s.Name)
		}
	}
	return steps, nil
}

// The source's records: JSON lines, one object each.
func readSource(u string) ([]record, error) {
	resp, err := client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var records []record
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; lines.Scan(); n++ {
		line := bytes.TrimSpace(lines.Bytes())
		if len(line) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, fmt.Errorf("line %d: not a JSON object: %v", n, err)
		}
		records = append(records, r)
	}
	return records, lines.Err()
}

func writeSink(u string, records []record) error {
	var body bytes.Buffer
	encoder := json.NewEncoder(&body)
	for _, r := range records {
		if err := encoder.Encode(r); err != nil {
			return err
		}
	}
	resp, err := client.Post(u, "application/x-ndjson", &body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", u, resp.Status)
	}
	return nil
}

// One inference request for the batch: an FP64 tensor `features` of shape [records, width]; the
// first output holds one value per record, stored under the step's name.
func (m *modelStep) apply(records []record) error {
	rows := make([][]float64, len(records))
	for i, r := range records {
		features, ok := r["features"].([]any)
		if !ok || len(features) == 0 {
			return fmt.Errorf("record %d: no `features` list", i)
		}
		for _, f := range features {
			number, ok := f.(float64)
			if !ok {
				return fmt.Errorf("record %d: `features` holds %v, not a number", i, f)
			}
			rows[i] = append(rows[i], number)
		}
		if len(rows[i]) != len(rows[0]) {
			return fmt.Errorf("record %d has %d features, record 0 has %d", i, len(rows[i]), len(rows[0]))
		}
	}
	request, err := json.Marshal(map[string]any{"inputs": []any{map[string]any{
		"name": "features", "shape": []int{len(rows), len(rows[0])}, "datatype": "FP64", "data": rows,
	}}})
	if err != nil {
		return err
	}
	answer, err := m.infer(request)
	if err != nil {
		return err
	}
	var response struct {
		Outputs []struct {
			Name string `json:"name"`
			Data []any  `json:"data"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(answer, &response); err != nil {
		return fmt.Errorf("model %s: the answer is not an inference response: %v", m.model, err)
	}
	if len(response.Outputs) == 0 {
		return fmt.Errorf("model %s: the answer has no outputs", m.model)
	}
	values := flatten(response.Outputs[0].Data)
	if len(values) != len(records) {
		return fmt.Errorf("model %s: output %s has %d values for %d records", m.model, response.Outputs[0].Name, len(values), len(records))
	}
	for i, r := range records {
		r[m.name] = values[i]
	}
	return nil
}

func (m *modelStep) infer(request []byte) ([]byte, error) {
	var last error
	for attempt := 1; attempt <= attempts; attempt++ {
		if attempt > 1 {
			time.Sleep(retryInterval)
		}
		m.requests++
		resp, err := client.Post(m.inferURL, "application/json", bytes.NewReader(request))
		if err != nil {
			last = err
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			last = err
		case resp.StatusCode == http.StatusOK:
			return body, nil
		case resp.StatusCode >= 500:
			last = fmt.Errorf("POST %s: %s: %s", m.inferURL, resp.Status, body)
		default:
			return nil, fmt.Errorf("POST %s: %s: %s", m.inferURL, resp.Status, body)
		}
	}
	return nil, fmt.Errorf("%v (after %d attempts)", last, attempts)
}

func flatten(data []any) []any {
	var flat []any
	for _, d := range data {
		if nested, ok := d.([]any); ok {
			flat = append(flat, flatten(nested)...)
		} else {
			flat = append(flat, d)
		}
	}
	return flat
}

func (e *expressionStep) apply(records []record) error {
	for i, r := range records {
		value, err := e.expr.eval(r)
		if err != nil {
			return fmt.Errorf("record %d: %v", i, err)
		}
		r[e.name] = value
	}
	return nil
}
