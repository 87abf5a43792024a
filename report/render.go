package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
)

// Doc is one command's report as the renderer sees it: the command (or the
// package that runs it) builds the value, Render formats it. Every report
// kind implements it: Diff (diff, resync), User (check-user), Runs
// (history) and replay.Report.
type Doc interface {
	// JSONValue is the json format: the whole report, with the contract's
	// field names.
	JSONValue() any
	// NDJSONLines are the ndjson format, one value per line: the items
	// first, then one summary line.
	NDJSONLines() []any
	// CSV is the csv format: a header and one row per item.
	CSV() (header []string, rows [][]string)
	// Text writes the human layout: a table (t.Markdown false) or markdown.
	Text(t *Text) error
}

// Render writes d in format (table, json, ndjson, csv, markdown) to w. It
// is the one place that knows the formats; table and markdown output has
// every control character escaped (EscapeText), json, ndjson and csv keep
// exact values.
func Render(w io.Writer, format string, d Doc, o Options) error {
	switch format {
	case "json":
		return writeJSON(w, d.JSONValue())
	case "ndjson":
		if _, ok := d.(StreamedNDJSON); ok {
			// The same lines, written as they are encoded: the whole
			// output is never held (replay's 100k events: issue #16).
			bw := bufio.NewWriterSize(w, 64<<10)
			enc := json.NewEncoder(bw)
			_, html := d.(htmlEscaped)
			enc.SetEscapeHTML(html)
			for _, line := range d.NDJSONLines() {
				if err := enc.Encode(line); err != nil {
					return err
				}
			}
			return bw.Flush()
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		_, html := d.(htmlEscaped)
		enc.SetEscapeHTML(html)
		for _, line := range d.NDJSONLines() {
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		_, err := w.Write(buf.Bytes())
		return err
	case "csv":
		var buf bytes.Buffer
		cw := csv.NewWriter(&buf)
		header, rows := d.CSV()
		_ = cw.Write(header)
		_ = cw.WriteAll(rows) // flushes
		if err := cw.Error(); err != nil {
			return err
		}
		_, err := w.Write(buf.Bytes())
		return err
	case "table", "", "markdown":
		t := &Text{Markdown: format == "markdown", Color: o.Color && format != "markdown"}
		if err := d.Text(t); err != nil {
			return err
		}
		_, err := w.Write(escapeOutput(t.buf.Bytes(), t.Color))
		return err
	}
	return CheckFormat(format)
}

// htmlEscaped marks a Doc whose ndjson has always escaped <, > and & as
// \u003c... (history's); the other kinds write them as they are.
type htmlEscaped interface{ ndjsonEscapesHTML() }

// StreamedNDJSON marks a Doc whose ndjson lines are written to the output
// as they are encoded rather than once all are (an encoding error then
// leaves the lines before it written): replay's report, whose lines are
// its events.
type StreamedNDJSON interface{ NDJSONStreams() }

// Text is where a Doc writes its table or markdown layout.
type Text struct {
	Markdown bool // markdown, else a plain ASCII table layout
	Color    bool // colour drift kinds (table output on a terminal only)
	buf      bytes.Buffer
}

// Printf appends formatted text.
func (t *Text) Printf(format string, args ...any) { fmt.Fprintf(&t.buf, format, args...) }

// WriteString appends s.
func (t *Text) WriteString(s string) { t.buf.WriteString(s) }

// Table appends a table: ASCII with every cell escaped before the columns
// are measured (so they line up), or markdown with cells escaped for it.
func (t *Text) Table(header []string, rows [][]string) error {
	return t.table(header, rows, -1)
}

// DriftTable is Table with column kind coloured by drift kind when Color.
func (t *Text) DriftTable(header []string, rows [][]string, kind int) error {
	return t.table(header, rows, kind)
}

func (t *Text) table(header []string, rows [][]string, kind int) error {
	if t.Markdown {
		mdTable(&t.buf, header, rows)
		return nil
	}
	tt := NewTable(&t.buf, header)
	for _, row := range rows {
		row = escapeRow(row)
		if t.Color && kind >= 0 {
			row[kind] = colorKind(row[kind])
		}
		if err := tt.Append(row); err != nil {
			return err
		}
	}
	return tt.Render()
}
