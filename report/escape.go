package report

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// EscapeText makes s safe to show on a terminal: control characters (C0
// but newline, DEL, C1), bidirectional overrides and isolates, line and
// paragraph separators, and invalid UTF-8 are replaced by visible escapes
// (\x1b, \u202e, \xff), so a provider value such as
// "Ann\x1b[2J\x1b]0;owned\x07" can neither clear the screen, retitle the
// window nor reorder what the operator reads. A literal backslash is left
// as it is. json, ndjson and csv keep exact values; only the human formats
// (table, markdown) and messages on stderr go through this.
func EscapeText(s string) string { return escape(s, false) }

// escapeOutput is EscapeText for a whole rendered report; with color, the
// renderer's own colour codes (and only those) pass through.
func escapeOutput(b []byte, color bool) []byte { return []byte(escape(string(b), color)) }

var colorCodes = []string{colorReset, colorRed, colorGreen, colorYellow}

func escape(s string, color bool) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
outer:
	for i := 0; i < len(s); {
		if color && s[i] == 0x1b {
			for _, c := range colorCodes {
				if strings.HasPrefix(s[i:], c) {
					b.WriteString(c)
					i += len(c)
					continue outer
				}
			}
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case unsafeRune(r):
			if r < 0x80 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\n' || c >= 0x7f {
			return !strings.ContainsFunc(s, func(r rune) bool { return r == utf8.RuneError || unsafeRune(r) }) && utf8.ValidString(s)
		}
	}
	return true
}

// unsafeRune is a rune a terminal may act on or that reorders text.
func unsafeRune(r rune) bool {
	switch {
	case r == '\n':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, // arabic letter mark, LRM, RLM
		r >= 0x202a && r <= 0x202e, // LRE, RLE, PDF, LRO, RLO
		r >= 0x2066 && r <= 0x2069, // LRI, RLI, FSI, PDI
		r == 0x2028, r == 0x2029:   // line and paragraph separators
		return true
	}
	return false
}
