// Package pick decodes JSON objects keeping only the values at some field
// paths: the parts of a provider object a comparison reads. Everything else
// is checked (the input must be valid JSON, as encoding/json requires) and
// skipped without building it, which is what makes a listing cheap to read.
//
// What it keeps is exactly what encoding/json (with UseNumber) would have
// decoded there: map[string]any, []any, string, json.Number, bool, nil.
// A path absent from the object stays absent and a null stays null, so a
// lookup of a kept path in the result gives the same answer as in the whole
// object. Arrays keep their length (elements no path reaches are nil), so an
// index past the end is still absent.
//
// On any input it cannot decode it returns an error without detail
// (ErrSyntax or ErrShort); callers decode the same bytes with encoding/json
// again to report the problem in its words.
package pick

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// Paths is a compiled set of field paths. A nil *Paths keeps everything.
type Paths struct {
	root *node
}

type node struct {
	name string // the key that leads here (kept maps use it: no copy per object)
	all  bool   // keep the whole value here
	kids map[string]*node
	// idx is kids by array index, for the keys that are one.
	idx map[int]*node
}

func (n *node) child(key string) *node {
	if n.kids == nil {
		n.kids = map[string]*node{}
	}
	c := n.kids[key]
	if c == nil {
		c = &node{name: key}
		n.kids[key] = c
		if i, err := strconv.Atoi(key); err == nil && i >= 0 && strconv.Itoa(i) == key {
			if n.idx == nil {
				n.idx = map[int]*node{}
			}
			n.idx[i] = c
		}
	}
	return c
}

// Compile returns the set of paths (each a list of segments, as a dotted
// field path split at its dots) plus the top-level keys keep names (what a
// provider reads of every object itself: "id", "updated_at").
func Compile(paths [][]string, keep ...string) *Paths {
	root := &node{}
	add := func(segs []string) {
		n := root
		for _, s := range segs {
			n = n.child(s)
		}
		n.all = true
	}
	for _, p := range paths {
		if len(p) == 0 {
			root.all = true
			continue
		}
		add(p)
	}
	for _, k := range keep {
		add([]string{k})
	}
	return &Paths{root: root}
}

var (
	// ErrSyntax: the input is not one valid JSON value of the expected kind.
	ErrSyntax = errors.New("pick: invalid JSON")
	// ErrShort: the input ends inside the value (a stream's reader reads
	// more and tries again).
	ErrShort = io.ErrUnexpectedEOF
)

// maxDepth is encoding/json's nesting limit: deeper input is refused (and
// the caller's encoding/json retry reports it).
const maxDepth = 10000

// Object decodes the one JSON object that begins data (after optional
// whitespace) and returns the kept part and the number of bytes it took
// (what follows is not looked at). A value that is not an object is
// ErrSyntax; a nil p keeps the whole object.
func (p *Paths) Object(data []byte) (map[string]any, int, error) {
	d := decoder{data: data}
	d.ws()
	if d.pos >= len(d.data) {
		return nil, 0, ErrShort
	}
	if d.data[d.pos] != '{' {
		return nil, 0, ErrSyntax
	}
	n := &node{all: true}
	if p != nil && !p.root.all {
		n = p.root
	}
	v, err := d.value(n, 0)
	if err != nil {
		return nil, 0, err
	}
	return v.(map[string]any), d.pos, nil
}

// Objects decodes a JSON array of objects (a list page's data), each kept
// as Object keeps it. A null is an empty list, as encoding/json reads it.
func (p *Paths) Objects(data []byte) ([]map[string]any, error) {
	d := decoder{data: data}
	d.ws()
	if d.lit("null") {
		return nil, nil
	}
	if d.pos >= len(d.data) {
		return nil, ErrShort
	}
	if d.data[d.pos] != '[' {
		return nil, ErrSyntax
	}
	d.pos++
	n := &node{all: true}
	if p != nil && !p.root.all {
		n = p.root
	}
	out := []map[string]any{}
	for first := true; ; first = false {
		d.ws()
		if d.pos >= len(d.data) {
			return nil, ErrShort
		}
		if d.data[d.pos] == ']' && first {
			d.pos++
			return out, nil
		}
		if !first {
			switch d.data[d.pos] {
			case ']':
				d.pos++
				return out, nil
			case ',':
				d.pos++
				d.ws()
			default:
				return nil, ErrSyntax
			}
		}
		if d.pos >= len(d.data) {
			return nil, ErrShort
		}
		switch d.data[d.pos] {
		case '{':
			v, err := d.value(n, 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v.(map[string]any))
		case 'n':
			if !d.lit("null") {
				return nil, d.litErr("null")
			}
			out = append(out, nil)
		default:
			return nil, ErrSyntax // encoding/json: cannot unmarshal into a map
		}
	}
}

type decoder struct {
	data []byte
	pos  int
}

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) lit(s string) bool {
	if len(d.data)-d.pos >= len(s) && string(d.data[d.pos:d.pos+len(s)]) == s {
		d.pos += len(s)
		return true
	}
	return false
}

// litErr is the error of a literal that did not match: short when the input
// ends in what could still be it.
func (d *decoder) litErr(s string) error {
	rest := d.data[d.pos:]
	if len(rest) < len(s) && string(rest) == s[:len(rest)] {
		return ErrShort
	}
	return ErrSyntax
}

// value decodes (n != nil) or skips (n == nil) the value at pos. With n,
// n.all keeps all of it; otherwise only n's paths are kept.
func (d *decoder) value(n *node, depth int) (any, error) {
	if d.pos >= len(d.data) {
		return nil, ErrShort
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(n, depth+1)
	case c == '[':
		return d.array(n, depth+1)
	case c == '"':
		if n == nil {
			return nil, d.skipString()
		}
		s, err := d.str()
		return s, err
	case c == '-' || (c >= '0' && c <= '9'):
		start := d.pos
		if err := d.number(); err != nil {
			return nil, err
		}
		if n == nil {
			return nil, nil
		}
		return json.Number(d.data[start:d.pos]), nil
	case c == 't':
		if !d.lit("true") {
			return nil, d.litErr("true")
		}
		return true, nil
	case c == 'f':
		if !d.lit("false") {
			return nil, d.litErr("false")
		}
		return false, nil
	case c == 'n':
		if !d.lit("null") {
			return nil, d.litErr("null")
		}
		return nil, nil
	}
	return nil, ErrSyntax
}

func (d *decoder) object(n *node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, ErrSyntax
	}
	d.pos++ // '{'
	var m map[string]any
	if n != nil {
		m = map[string]any{}
	}
	for first := true; ; first = false {
		d.ws()
		if d.pos >= len(d.data) {
			return nil, ErrShort
		}
		c := d.data[d.pos]
		if c == '}' {
			if !first {
				return nil, ErrSyntax // trailing comma
			}
			d.pos++
			return mapOrNil(m, n), nil
		}
		if c != '"' {
			return nil, ErrSyntax
		}
		var key string
		var kid *node
		if n != nil {
			raw, simple, err := d.rawString()
			if err != nil {
				return nil, err
			}
			switch {
			case n.all:
				key, kid = d.keyString(raw, simple), n
			case simple:
				if kid = n.kids[string(raw)]; kid != nil {
					key = kid.name
				}
			default:
				key = d.keyString(raw, simple)
				kid = n.kids[key]
			}
		} else if err := d.skipString(); err != nil {
			return nil, err
		}
		d.ws()
		if d.pos >= len(d.data) {
			return nil, ErrShort
		}
		if d.data[d.pos] != ':' {
			return nil, ErrSyntax
		}
		d.pos++
		d.ws()
		v, err := d.value(kid, depth)
		if err != nil {
			return nil, err
		}
		if kid != nil {
			m[key] = v
		}
		d.ws()
		if d.pos >= len(d.data) {
			return nil, ErrShort
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return mapOrNil(m, n), nil
		default:
			return nil, ErrSyntax
		}
	}
}

func (d *decoder) array(n *node, depth int) (any, error) {
	if depth > maxDepth {
		return nil, ErrSyntax
	}
	d.pos++ // '['
	var a []any
	if n != nil {
		a = []any{}
	}
	for i := 0; ; i++ {
		d.ws()
		if d.pos >= len(d.data) {
			return nil, ErrShort
		}
		if d.data[d.pos] == ']' {
			if i > 0 {
				return nil, ErrSyntax // trailing comma
			}
			d.pos++
			return sliceOrNil(a, n), nil
		}
		kid := n
		if n != nil && !n.all {
			kid = n.idx[i]
		}
		v, err := d.value(kid, depth)
		if err != nil {
			return nil, err
		}
		if n != nil {
			a = append(a, v)
		}
		d.ws()
		if d.pos >= len(d.data) {
			return nil, ErrShort
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return sliceOrNil(a, n), nil
		default:
			return nil, ErrSyntax
		}
	}
}

// mapOrNil and sliceOrNil return a skipped value as an untyped nil.
func mapOrNil(m map[string]any, n *node) any {
	if n == nil {
		return nil
	}
	return m
}

func sliceOrNil(a []any, n *node) any {
	if n == nil {
		return nil
	}
	return a
}

// rawString scans the string at pos and returns its bytes between the
// quotes; simple is true when they are printable ASCII without escapes
// (the string is those bytes as they are).
func (d *decoder) rawString() (raw []byte, simple bool, err error) {
	start := d.pos + 1
	i := start
	for i < len(d.data) {
		c := d.data[i]
		if c == '"' {
			d.pos = i + 1
			return d.data[start:i], true, nil
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
		i++
	}
	d.pos = start - 1
	if err := d.skipString(); err != nil {
		return nil, false, err
	}
	return d.data[start : d.pos-1], false, nil
}

// keyString is the text of a string rawString scanned.
func (d *decoder) keyString(raw []byte, simple bool) string {
	if simple {
		return string(raw)
	}
	return unquote(raw)
}

func (d *decoder) str() (string, error) {
	raw, simple, err := d.rawString()
	if err != nil {
		return "", err
	}
	return d.keyString(raw, simple), nil
}

// unquote decodes a checked string's contents as encoding/json does
// (escapes, surrogate pairs, invalid UTF-8 as U+FFFD).
func unquote(raw []byte) string {
	escaped := false
	for _, c := range raw {
		if c == '\\' {
			escaped = true
			break
		}
	}
	if !escaped && utf8.Valid(raw) {
		return string(raw)
	}
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		panic("pick: a checked string does not decode: " + err.Error()) // skipString checked it
	}
	return s
}

// skipString checks the string at pos and moves past it.
func (d *decoder) skipString() error {
	i := d.pos + 1
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return nil
		case c == '\\':
			if i+1 >= len(d.data) {
				return ErrShort
			}
			switch d.data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for j := i + 2; j < i+6; j++ {
					if j >= len(d.data) {
						return ErrShort
					}
					if !isHex(d.data[j]) {
						return ErrSyntax
					}
				}
				i += 6
			default:
				return ErrSyntax
			}
		case c < 0x20:
			return ErrSyntax
		default:
			i++
		}
	}
	return ErrShort
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number checks the number at pos (JSON's grammar) and moves past it.
func (d *decoder) number() error {
	i := d.pos
	if d.data[i] == '-' {
		i++
	}
	digits := func() int {
		s := i
		for i < len(d.data) && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
		}
		return i - s
	}
	if i >= len(d.data) {
		return ErrShort
	}
	if d.data[i] == '0' {
		i++
	} else if digits() == 0 {
		return ErrSyntax
	}
	if i < len(d.data) && d.data[i] == '.' {
		i++
		if digits() == 0 {
			if i >= len(d.data) {
				return ErrShort
			}
			return ErrSyntax
		}
	}
	if i < len(d.data) && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		if i < len(d.data) && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if digits() == 0 {
			if i >= len(d.data) {
				return ErrShort
			}
			return ErrSyntax
		}
	}
	// A number that ends the input may go on in the next chunk of a stream
	// (and the top level is always an object or array here).
	if i >= len(d.data) {
		return ErrShort
	}
	d.pos = i
	return nil
}
