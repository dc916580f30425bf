package main

// Expression steps: a small C-like subset, enough for the flows of the tests and examples.
//
//	expr    := or ('?' expr ':' expr)?
//	or      := and ('||' and)*
//	and     := compare ('&&' compare)*
//	compare := unary (('==' | '!=' | '<' | '<=' | '>' | '>=') unary)?
//	unary   := '!' unary | '-' unary | primary
//	primary := number | 'string' | true | false | name | '(' expr ')'
//
// A name is a field of the record (its source fields and the outputs of earlier steps). Values
// are numbers, strings and booleans; comparing values of different kinds, or ordering booleans,
// is an error, as is a name the record does not have.

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

type node interface {
	eval(r record) (any, error)
}

type literal struct{ value any }
type field struct{ name string }
type not struct{ operand node }
type negate struct{ operand node }
type binary struct {
	op          string
	left, right node
}
type conditional struct{ condition, then, otherwise node }

type token struct {
	kind  string // "number", "string", "name", "op", "end"
	text  string
	value any
	at    int
}

func tokenize(src string) ([]token, error) {
	var tokens []token
	for i := 0; i < len(src); {
		c := rune(src[i])
		switch {
		case unicode.IsSpace(c):
			i++
		case unicode.IsDigit(c) || (c == '.' && i+1 < len(src) && unicode.IsDigit(rune(src[i+1]))):
			j := i
			for j < len(src) && (unicode.IsDigit(rune(src[j])) || src[j] == '.' || src[j] == 'e' || src[j] == 'E' ||
				((src[j] == '+' || src[j] == '-') && (src[j-1] == 'e' || src[j-1] == 'E'))) {
				j++
			}
			number, err := strconv.ParseFloat(src[i:j], 64)
			if err != nil {
				return nil, fmt.Errorf("at %d: %q is not a number", i, src[i:j])
			}
			tokens = append(tokens, token{"number", src[i:j], number, i})
			i = j
		case c == '\'' || c == '"':
			end := strings.IndexByte(src[i+1:], src[i])
			if end < 0 {
				return nil, fmt.Errorf("at %d: unterminated string", i)
			}
			text := src[i+1 : i+1+end]
			tokens = append(tokens, token{"string", text, text, i})
			i += end + 2
		case c == '_' || unicode.IsLetter(c):
			j := i
			for j < len(src) && (src[j] == '_' || unicode.IsLetter(rune(src[j])) || unicode.IsDigit(rune(src[j]))) {
				j++
			}
			tokens = append(tokens, token{"name", src[i:j], nil, i})
			i = j
		default:
			op := ""
			for _, candidate := range []string{"==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "-", "?", ":", "(", ")"} {
				if strings.HasPrefix(src[i:], candidate) {
					op = candidate
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("at %d: %q is not supported by the test flow runner", i, src[i:])
			}
			tokens = append(tokens, token{"op", op, nil, i})
			i += len(op)
		}
	}
	return append(tokens, token{"end", "", nil, len(src)}), nil
}

type parser struct {
	tokens []token
	next   int
}

func parse(src string) (node, error) {
	tokens, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &parser{tokens: tokens}
	expr, err := p.expr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "end" {
		return nil, fmt.Errorf("at %d: unexpected %q", t.at, t.text)
	}
	return expr, nil
}

func (p *parser) peek() token { return p.tokens[p.next] }

func (p *parser) accept(op string) bool {
	if t := p.peek(); t.kind == "op" && t.text == op {
		p.next++
		return true
	}
	return false
}

func (p *parser) expr() (node, error) {
	condition, err := p.or()
	if err != nil || !p.accept("?") {
		return condition, err
	}
	then, err := p.expr()
	if err != nil {
		return nil, err
	}
	if !p.accept(":") {
		return nil, fmt.Errorf("at %d: expected `:`", p.peek().at)
	}
	otherwise, err := p.expr()
	if err != nil {
		return nil, err
	}
	return conditional{condition, then, otherwise}, nil
}

// A left-associative chain of one operator over operands parsed by `operand`.
func (p *parser) chain(op string, operand func() (node, error)) (node, error) {
	left, err := operand()
	for err == nil && p.accept(op) {
		var right node
		right, err = operand()
		left = binary{op, left, right}
	}
	return left, err
}

func (p *parser) or() (node, error)  { return p.chain("||", p.and) }
func (p *parser) and() (node, error) { return p.chain("&&", p.compare) }

func (p *parser) compare() (node, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if p.accept(op) {
			right, err := p.unary()
			return binary{op, left, right}, err
		}
	}
	return left, nil
}

func (p *parser) unary() (node, error) {
	if p.accept("!") {
		operand, err := p.unary()
		return not{operand}, err
	}
	if p.accept("-") {
		operand, err := p.unary()
		return negate{operand}, err
	}
	return p.primary()
}

func (p *parser) primary() (node, error) {
	t := p.peek()
	p.next++
	switch {
	case t.kind == "number" || t.kind == "string":
		return literal{t.value}, nil
	case t.kind == "name" && t.text == "true":
		return literal{true}, nil
	case t.kind == "name" && t.text == "false":
		return literal{false}, nil
	case t.kind == "name":
		return field{t.text}, nil
	case t.kind == "op" && t.text == "(":
		inner, err := p.expr()
		if err != nil {
			return nil, err
		}
		if !p.accept(")") {
			return nil, fmt.Errorf("at %d: expected `)`", p.peek().at)
		}
		return inner, nil
	case t.kind == "end":
		return nil, fmt.Errorf("at %d: the expression ends early", t.at)
	default:
		return nil, fmt.Errorf("at %d: unexpected %q", t.at, t.text)
	}
}

func (l literal) eval(record) (any, error) { return l.value, nil }

func (f field) eval(r record) (any, error) {
	value, ok := r[f.name]
	if !ok {
		return nil, fmt.Errorf("the record has no field `%s`", f.name)
	}
	return value, nil
}

func (n not) eval(r record) (any, error) {
	value, err := n.operand.eval(r)
	if err != nil {
		return nil, err
	}
	b, ok := value.(bool)
	if !ok {
		return nil, fmt.Errorf("`!` of %v, not a boolean", value)
	}
	return !b, nil
}

func (n negate) eval(r record) (any, error) {
	value, err := n.operand.eval(r)
	if err != nil {
		return nil, err
	}
	f, ok := value.(float64)
	if !ok {
		return nil, fmt.Errorf("`-` of %v, not a number", value)
	}
	return -f, nil
}

func (c conditional) eval(r record) (any, error) {
	condition, err := c.condition.eval(r)
	if err != nil {
		return nil, err
	}
	b, ok := condition.(bool)
	if !ok {
		return nil, fmt.Errorf("the condition of `?` is %v, not a boolean", condition)
	}
	if b {
		return c.then.eval(r)
	}
	return c.otherwise.eval(r)
}

func (b binary) eval(r record) (any, error) {
	left, err := b.left.eval(r)
	if err != nil {
		return nil, err
	}
	// && and || do not evaluate their right side when the left decides.
	if b.op == "&&" || b.op == "||" {
		l, ok := left.(bool)
		if !ok {
			return nil, fmt.Errorf("`%s` of %v, not a boolean", b.op, left)
		}
		if l == (b.op == "||") {
			return l, nil
		}
		right, err := b.right.eval(r)
		if err != nil {
			return nil, err
		}
		if _, ok := right.(bool); !ok {
			return nil, fmt.Errorf("`%s` of %v, not a boolean", b.op, right)
		}
		return right, nil
	}
	right, err := b.right.eval(r)
	if err != nil {
		return nil, err
	}
	return compare(b.op, left, right)
}

func compare(op string, left, right any) (any, error) {
	var order int
	switch l := left.(type) {
	case float64:
		r, ok := right.(float64)
		if !ok {
			return nil, fmt.Errorf("cannot compare the number %v with %v", l, right)
		}
		order = cmp.Compare(l, r)
	case string:
		r, ok := right.(string)
		if !ok {
			return nil, fmt.Errorf("cannot compare the string %q with %v", l, right)
		}
		order = strings.Compare(l, r)
	case bool:
		r, ok := right.(bool)
		if !ok || (op != "==" && op != "!=") {
			return nil, fmt.Errorf("cannot compare %v %s %v", l, op, right)
		}
		if l != r {
			order = 1
		}
	default:
		return nil, fmt.Errorf("cannot compare %v", left)
	}
	switch op {
	case "==":
		return order == 0, nil
	case "!=":
		return order != 0, nil
	case "<":
		return order < 0, nil
	case "<=":
		return order <= 0, nil
	case ">":
		return order > 0, nil
	default: // ">="
		return order >= 0, nil
	}
}
