package main

import "testing"

func TestExpressions(t *testing.T) {
	r := record{"species": 2.0, "region": "eu", "flagged": true}
	cases := map[string]any{
		"species == 2 ? 'virginica' : 'other'":          "virginica",
		"species != 2 ? 'virginica' : 'other'":          "other",
		"species > 1.5 && region == 'eu'":               true,
		"species < 1 || !(region != \"eu\")":            true,
		"-species <= -2":                                true,
		"flagged == true && species >= 2e0":             true,
		"species == 0 ? 'a' : species == 1 ? 'b' : 'c'": "c",
		"region < 'fr'":                                 true,
	}
	for src, want := range cases {
		expr, err := parse(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := expr.eval(r)
		if err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", src, got, err, want)
		}
	}
}

func TestExpressionErrors(t *testing.T) {
	r := record{"species": 2.0}
	for src, want := range map[string]string{
		"species == 'two'": "cannot compare the number 2 with two",
		"missing > 1":      "the record has no field `missing`",
		"species ? 1 : 2":  "the condition of `?` is 2, not a boolean",
		"true && species":  "`&&` of 2, not a boolean",
	} {
		expr, err := parse(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if _, err := expr.eval(r); err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
	for src, want := range map[string]string{
		"risk > 0.9 // a comment": "at 11: \"// a comment\" is not supported by the test flow runner",
		"species == ":             "at 11: the expression ends early",
		"(species == 2":           "at 13: expected `)`",
		"species 2":               "at 8: unexpected \"2\"",
		"'open":                   "at 0: unterminated string",
	} {
		if _, err := parse(src); err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
}
