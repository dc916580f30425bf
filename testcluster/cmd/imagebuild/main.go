// Command imagebuild assembles an OCI image from local files, without a container engine or a
// registry, and writes it as a docker-archive tarball that `ctr images import` loads under the
// image's reference (scripts/testcluster.sh, docs/testcluster.md "Images").
//
//	imagebuild -spec testcluster/images/busybox.json -var BUSYBOX=/bin/busybox -out-dir DIR
//
// The spec (JSON) names the reference, the config (entrypoint, cmd, user, working dir, env,
// labels; platform linux/amd64) and the files of the image's single layer. ${NAME} in a spec
// string is replaced by the -var NAME=VALUE given on the command line; an unknown name is an
// error. Entries: {"path", "from"} copies a host file (mode from the host unless "mode" is set)
// or a whole directory tree (symbolic links in it are kept as links); {"path", "content"} writes a literal file; {"path", "dir": true}
// makes a directory; {"path", "symlink"} a symbolic link; "uid"/"gid" set the owner; "applets":
// true (with "from", a busybox binary) also adds a symlink per applet it lists, in the same
// directory. Missing parent directories are added (0755, root).
//
// The image is reproducible: every timestamp is the epoch and entries are sorted, so the same
// inputs give the same image digest. The output file is DIR/<name>-<hash>.tar, hash = sha256 of
// the spec after substitution and every input file's contents; when it already exists nothing is
// built. The path is printed on stdout, the reference and digest on stderr.
package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Spec is one image (testcluster/images/*.json).
type Spec struct {
	Reference  string            `json:"reference"`
	Entrypoint []string          `json:"entrypoint"`
	Cmd        []string          `json:"cmd"`
	User       string            `json:"user"`
	WorkingDir string            `json:"workingDir"`
	Env        []string          `json:"env"`
	Labels     map[string]string `json:"labels"`
	Files      []Entry           `json:"files"`
}

// Entry is one path of the image's filesystem.
type Entry struct {
	Path    string  `json:"path"`
	From    string  `json:"from,omitempty"`
	Content *string `json:"content,omitempty"`
	Dir     bool    `json:"dir,omitempty"`
	Symlink string  `json:"symlink,omitempty"`
	Mode    string  `json:"mode,omitempty"`
	UID     int     `json:"uid,omitempty"`
	GID     int     `json:"gid,omitempty"`
	Applets bool    `json:"applets,omitempty"`
}

// node is one tar entry of the layer.
type node struct {
	hdr  tar.Header
	data []byte
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	specPath := flag.String("spec", "", "image spec (JSON)")
	outDir := flag.String("out-dir", "", "directory of the cached image tarballs")
	var vars multiFlag
	flag.Var(&vars, "var", "NAME=VALUE substituted for ${NAME} in the spec (repeatable)")
	flag.Parse()
	if *specPath == "" || *outDir == "" || flag.NArg() != 0 {
		fail(errors.New("usage: imagebuild -spec FILE -out-dir DIR [-var NAME=VALUE]..."))
	}
	out, err := run(*specPath, *outDir, vars)
	if err != nil {
		fail(err)
	}
	fmt.Println(out)
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "imagebuild: %v\n", err)
	os.Exit(1)
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// substitute replaces ${NAME} in every string of the spec's JSON text.
func substitute(text string, vars map[string]string) (string, error) {
	var missing []string
	res := varRef.ReplaceAllStringFunc(text, func(m string) string {
		n := varRef.FindStringSubmatch(m)[1]
		v, ok := vars[n]
		if !ok {
			missing = append(missing, n)
			return m
		}
		// The value lands inside a JSON string.
		b, _ := json.Marshal(v)
		return string(b[1 : len(b)-1])
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no -var given for %s", strings.Join(missing, ", "))
	}
	return res, nil
}

func run(specPath, outDir string, varArgs []string) (string, error) {
	vars := map[string]string{}
	for _, a := range varArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return "", fmt.Errorf("-var %q: expected NAME=VALUE", a)
		}
		vars[k] = v
	}
	raw, err := os.ReadFile(specPath)
	if err != nil {
		return "", err
	}
	text, err := substitute(string(raw), vars)
	if err != nil {
		return "", fmt.Errorf("%s: %w", specPath, err)
	}
	var spec Spec
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return "", fmt.Errorf("%s: %w", specPath, err)
	}
	ref, err := name.ParseReference(spec.Reference, name.WeakValidation)
	if err != nil {
		return "", fmt.Errorf("%s: field reference: %w", specPath, err)
	}
	if len(spec.Entrypoint) == 0 {
		return "", fmt.Errorf("%s: field entrypoint: must not be empty", specPath)
	}
	nodes, err := collect(spec.Files)
	if err != nil {
		return "", fmt.Errorf("%s: %w", specPath, err)
	}
	h := sha256.New()
	h.Write([]byte(text))
	for _, n := range nodes {
		fmt.Fprintf(h, "%s %o %d %d %d %s\n", n.hdr.Name, n.hdr.Mode, n.hdr.Typeflag, n.hdr.Uid, n.hdr.Gid, n.hdr.Linkname)
		h.Write(n.data)
	}
	base := strings.TrimSuffix(filepath.Base(specPath), filepath.Ext(specPath))
	out := filepath.Join(outDir, fmt.Sprintf("%s-%s.tar", base, hex.EncodeToString(h.Sum(nil))[:16]))
	if _, err := os.Stat(out); err == nil {
		fmt.Fprintf(os.Stderr, "imagebuild: %s: cached %s\n", ref, out)
		return out, nil
	}
	layerTar, err := tarLayer(nodes)
	if err != nil {
		return "", err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return "", err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.OS = "amd64", "linux"
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cfg.Config = v1.Config{
		Entrypoint: spec.Entrypoint,
		Cmd:        spec.Cmd,
		User:       spec.User,
		WorkingDir: spec.WorkingDir,
		Env:        spec.Env,
		Labels:     spec.Labels,
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "imagebuild: %s: built %s (%s)\n", ref, out, digest)
	return out, nil
}

func parseMode(e Entry, def int64) (int64, error) {
	if e.Mode == "" {
		return def, nil
	}
	m, err := strconv.ParseInt(e.Mode, 8, 32)
	if err != nil || m < 0 || m > 0o7777 {
		return 0, fmt.Errorf("file %s: field mode: %q is not an octal mode", e.Path, e.Mode)
	}
	return m, nil
}

// collect turns the spec's entries into sorted tar entries, parents included.
func collect(entries []Entry) ([]node, error) {
	byName := map[string]node{}
	add := func(n node) error {
		if old, ok := byName[n.hdr.Name]; ok && !(old.hdr.Typeflag == tar.TypeDir && n.hdr.Typeflag == tar.TypeDir) {
			return fmt.Errorf("file /%s: given twice", n.hdr.Name)
		}
		byName[n.hdr.Name] = n
		return nil
	}
	epoch := time.Unix(0, 0).UTC()
	hdr := func(p string, typ byte, mode int64, uid, gid int) tar.Header {
		return tar.Header{Name: p, Typeflag: typ, Mode: mode, Uid: uid, Gid: gid, ModTime: epoch, Format: tar.FormatPAX}
	}
	for _, e := range entries {
		if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path || e.Path == "/" {
			return nil, fmt.Errorf("file %q: field path: must be a clean absolute path", e.Path)
		}
		rel := strings.TrimPrefix(e.Path, "/")
		kinds := 0
		for _, set := range []bool{e.From != "", e.Content != nil, e.Dir, e.Symlink != ""} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			return nil, fmt.Errorf("file %s: exactly one of from, content, dir, symlink must be set", e.Path)
		}
		switch {
		case e.Content != nil:
			mode, err := parseMode(e, 0o644)
			if err != nil {
				return nil, err
			}
			h := hdr(rel, tar.TypeReg, mode, e.UID, e.GID)
			h.Size = int64(len(*e.Content))
			if err := add(node{hdr: h, data: []byte(*e.Content)}); err != nil {
				return nil, err
			}
		case e.Dir:
			mode, err := parseMode(e, 0o755)
			if err != nil {
				return nil, err
			}
			byName[rel] = node{hdr: hdr(rel, tar.TypeDir, mode, e.UID, e.GID)}
		case e.Symlink != "":
			h := hdr(rel, tar.TypeSymlink, 0o777, e.UID, e.GID)
			h.Linkname = e.Symlink
			if err := add(node{hdr: h}); err != nil {
				return nil, err
			}
		default:
			st, err := os.Stat(e.From)
			if err != nil {
				return nil, fmt.Errorf("file %s: field from: %w", e.Path, err)
			}
			if st.IsDir() {
				err := filepath.WalkDir(e.From, func(p string, d fs.DirEntry, err error) error {
					if err != nil {
						return err
					}
					r, _ := filepath.Rel(e.From, p)
					target := path.Join(rel, filepath.ToSlash(r))
					if d.IsDir() {
						byName[target] = node{hdr: hdr(target, tar.TypeDir, 0o755, e.UID, e.GID)}
						return nil
					}
					if d.Type()&fs.ModeSymlink != 0 {
						// Kept as a link (a root filesystem's lib*.so and merged-/usr links).
						link, err := os.Readlink(p)
						if err != nil {
							return err
						}
						h := hdr(target, tar.TypeSymlink, 0o777, e.UID, e.GID)
						h.Linkname = link
						return add(node{hdr: h})
					}
					if !d.Type().IsRegular() {
						return fmt.Errorf("%s: only regular files, symbolic links and directories can be copied", p)
					}
					return addFile(add, hdr, p, target, Entry{Path: "/" + target, UID: e.UID, GID: e.GID})
				})
				if err != nil {
					return nil, fmt.Errorf("file %s: field from: %w", e.Path, err)
				}
				continue
			}
			if err := addFile(add, hdr, e.From, rel, e); err != nil {
				return nil, err
			}
			if e.Applets {
				out, err := exec.Command(e.From, "--list").Output()
				if err != nil {
					return nil, fmt.Errorf("file %s: applets: %s --list: %w", e.Path, e.From, err)
				}
				dir, self := path.Dir(rel), path.Base(rel)
				for _, a := range strings.Fields(string(out)) {
					if a == self || strings.Contains(a, "/") {
						continue
					}
					h := hdr(path.Join(dir, a), tar.TypeSymlink, 0o777, 0, 0)
					h.Linkname = self
					if err := add(node{hdr: h}); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	// Parent directories.
	for p := range byName {
		for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
			if _, ok := byName[d]; !ok {
				byName[d] = node{hdr: hdr(d, tar.TypeDir, 0o755, 0, 0)}
			}
		}
	}
	nodes := make([]node, 0, len(byName))
	for _, n := range byName {
		if n.hdr.Typeflag == tar.TypeDir {
			n.hdr.Name += "/"
		}
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].hdr.Name < nodes[j].hdr.Name })
	return nodes, nil
}

func addFile(add func(node) error, hdr func(string, byte, int64, int, int) tar.Header, src, rel string, e Entry) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("file %s: field from: %w", e.Path, err)
	}
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	def := int64(0o644)
	if st.Mode()&0o111 != 0 {
		def = 0o755
	}
	mode, err := parseMode(e, def)
	if err != nil {
		return err
	}
	h := hdr(rel, tar.TypeReg, mode, e.UID, e.GID)
	h.Size = int64(len(data))
	return add(node{hdr: h, data: data})
}

func tarLayer(nodes []node) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range nodes {
		h := n.hdr
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", h.Name, err)
		}
		if len(n.data) > 0 {
			if _, err := tw.Write(n.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
