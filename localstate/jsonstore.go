package localstate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reconctl/reconctl/snapshot"
)

// jsonStore is a JSON snapshot held in memory: {"table": [{record}, ...]}.
// Apply rewrites the whole file atomically.
type jsonStore struct {
	path     string
	readOnly bool

	mu      sync.RWMutex
	tables  map[string][]map[string]any
	stamp   fileStamp // the file as loaded, to notice another writer
	indexes map[indexKey]map[string]int
	// layout says where each table and record lies in the file, so that
	// Apply rewrites only what changed; nil: rewrite the whole file.
	layout *fileLayout
}

var _ KeyIndexer = (*jsonStore)(nil)

type fileStamp struct {
	size int64
	mod  time.Time
}

type indexKey struct{ table, key, soft string }

func stampOf(fi os.FileInfo) fileStamp { return fileStamp{fi.Size(), fi.ModTime()} }

func openJSON(ctx context.Context, path string, opts OpenOptions) (*jsonStore, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	layout, lerr := layoutOf(data)
	if lerr != nil {
		layout = nil // the reader below says what is wrong with the file
	}
	tables, err := loadSnapshot(ctx, path, data, layout)
	if err != nil {
		return nil, err
	}
	if !opts.ReadOnly {
		removeStaleTemps(path)
	}
	return &jsonStore{path: path, readOnly: opts.ReadOnly, tables: tables, stamp: stampOf(fi),
		indexes: map[indexKey]map[string]int{}, layout: layout}, nil
}

// removeStaleTemps deletes the temp files a killed Apply left beside the
// snapshot. Only a writing run calls it, and a writing run holds the state's
// writer lock, so no other reconctl is writing one of them now.
func removeStaleTemps(path string) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return
	}
	pattern := filepath.Join(filepath.Dir(target), "."+globEscape(filepath.Base(target))+".reconctl-*.tmp")
	stale, _ := filepath.Glob(pattern)
	for _, f := range stale {
		os.Remove(f)
	}
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// loadSnapshot parses a whole snapshot; errors carry FILE:LINE:COL. A
// top-level key whose value is not an array ("_meta": {...}) is no table: it
// is skipped here and kept as it is by Apply.
func loadSnapshot(ctx context.Context, path string, data []byte, layout *fileLayout) (map[string][]map[string]any, error) {
	src := bytes.NewReader(data)
	r := snapshot.NewReader(path, src)
	tables := map[string][]map[string]any{}
	for {
		name, err := r.NextTable()
		if err == io.EOF {
			return tables, nil
		}
		if err != nil {
			return nil, err
		}
		if tl := layout.value(name); tl != nil && !tl.array {
			if err := r.Skip(); err != nil {
				return nil, err
			}
			continue
		}
		if _, dup := tables[name]; dup {
			return nil, &snapshot.Error{Path: path, Msg: fmt.Sprintf("table %q appears twice; merge its records into one array", name)}
		}
		recs := []map[string]any{}
		err = r.Records(func(_ int64, rec map[string]any) error {
			if len(recs)%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			recs = append(recs, rec)
			return nil
		})
		if err != nil {
			return nil, err
		}
		tables[name] = recs
	}
}

func (s *jsonStore) Kind() string { return "json" }
func (s *jsonStore) Path() string { return s.path }
func (s *jsonStore) Close() error { return nil }

// Features: a snapshot in memory looks keys up by index; it has
// no transactions (Apply replaces the file atomically).
func (s *jsonStore) Features() Features {
	return Features{KeyIndexed: s.KeyIndexed, KeyHealth: s.KeyHealth}
}

func (s *jsonStore) KeyIndexed(context.Context, *Table) bool { return true }

// records returns t's records; the slice is never modified in place (Apply
// copies), so callers may range over it without the lock.
func (s *jsonStore) records(t *Table) ([]map[string]any, error) {
	if t == nil {
		return nil, errors.New("a change has no table")
	}
	if t.Scope != nil {
		return nil, ErrScopeNeedsSQL
	}
	name := tableName(t)
	s.mu.RLock()
	defer s.mu.RUnlock()
	recs, ok := s.tables[name]
	if !ok {
		return nil, s.noTable(name)
	}
	return recs, nil
}

// noTable is the error for a missing table; the caller holds s.mu.
func (s *jsonStore) noTable(name string) error {
	if tl := s.layout.value(name); tl != nil && !tl.array {
		return &SchemaError{Table: name, Err: fmt.Errorf("state %s: %q is not an array of records, so it is no table (reconctl leaves such keys as they are); a table is %q: [{...}, ...]; fix the snapshot or set table: for the resource in reconctl.yaml",
			s.path, name, name)}
	}
	names := slices.Sorted(maps.Keys(s.tables))
	have := "it has no tables"
	if len(names) > 0 {
		have = "its tables are: " + strings.Join(names, ", ")
	}
	return &SchemaError{Table: name, Err: fmt.Errorf("state %s has no table %q; %s; set table: for the resource in reconctl.yaml, or add %q: [] to the snapshot",
		s.path, name, have, name)}
}

// Columns is the union of the keys the table's records carry. A mapped column
// that no record has is not an error: in a snapshot an unset field is simply
// left out.
func (s *jsonStore) Columns(ctx context.Context, t *Table) ([]string, error) {
	recs, err := s.records(t)
	if err != nil {
		return nil, err
	}
	key := keyName(t)
	seen := map[string]bool{}
	for _, rec := range recs {
		for k := range rec {
			if k != key {
				seen[k] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

func (s *jsonStore) Scan(ctx context.Context, t *Table, cols []string, fn func(Row) error) error {
	recs, err := s.records(t)
	if err != nil {
		return err
	}
	key, soft := keyName(t), t.SoftDelete
	values := make([]any, len(cols))
	for i, rec := range recs {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if soft != "" && !isLive(rec[soft]) {
			continue
		}
		k, ok, err := keyString(rec[key])
		if err != nil {
			return fmt.Errorf("state %s: %s[%d].%s: %w", s.path, tableName(t), i, key, err)
		}
		if !ok { // a record without a key copies no provider record
			continue
		}
		for j, c := range cols {
			values[j] = rec[c]
		}
		if err := fn(Row{Key: k, Values: values}); err != nil {
			return err
		}
	}
	return nil
}

func (s *jsonStore) Get(ctx context.Context, t *Table, cols []string, key string) (Row, bool, error) {
	recs, err := s.records(t)
	if err != nil {
		return Row{}, false, err
	}
	idx, err := s.index(t, recs)
	if err != nil {
		return Row{}, false, err
	}
	i, ok := idx[key]
	if !ok || (t.SoftDelete != "" && !isLive(recs[i][t.SoftDelete])) {
		return Row{}, false, nil
	}
	row := Row{Key: key, Values: make([]any, len(cols))}
	for j, c := range cols {
		row.Values[j] = recs[i][c]
	}
	return row, true, nil
}

// index maps key → position, built once per table version. When a key
// appears more than once, a live record wins over a soft-deleted one.
func (s *jsonStore) index(t *Table, recs []map[string]any) (map[string]int, error) {
	ik := indexKey{tableName(t), keyName(t), t.SoftDelete}
	s.mu.RLock()
	idx, ok := s.indexes[ik]
	s.mu.RUnlock()
	if ok {
		return idx, nil
	}
	idx, err := buildIndex(s.path, ik, recs)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if current, ok := s.tables[ik.table]; ok && len(current) == len(recs) && (len(recs) == 0 || &current[0] == &recs[0]) {
		s.indexes[ik] = idx
	}
	s.mu.Unlock()
	return idx, nil
}

func buildIndex(path string, ik indexKey, recs []map[string]any) (map[string]int, error) {
	idx := make(map[string]int, len(recs))
	for i, rec := range recs {
		if rec == nil {
			continue
		}
		k, ok, err := keyString(rec[ik.key])
		if err != nil {
			return nil, fmt.Errorf("state %s: %s[%d].%s: %w", path, ik.table, i, ik.key, err)
		}
		if !ok {
			continue
		}
		if j, dup := idx[k]; dup && (ik.soft == "" || isLive(recs[j][ik.soft]) || !isLive(rec[ik.soft])) {
			continue
		}
		idx[k] = i
	}
	return idx, nil
}

// draft is one table being changed by Apply: a copy of its slice, with
// records cloned before they are modified.
type draft struct {
	recs    []map[string]any
	cloned  []bool
	idx     map[string]int
	removed bool
	numKeys bool // existing keys are numbers: new keys are written as numbers too
	formats map[string]timeFormat
	key     string // the key field
}

func (s *jsonStore) Apply(ctx context.Context, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	if s.readOnly {
		return fmt.Errorf("cannot write state %s: %w", s.path, ErrReadOnly)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := FormatTime(time.Now())
	drafts := map[string]*draft{}
	for n, ch := range changes {
		if n%1024 == 0 && ctx.Err() != nil {
			return s.notWritten(ctx, ctx.Err())
		}
		if err := s.applyOne(drafts, ch, now); err != nil {
			return s.notWritten(ctx, err)
		}
	}
	next := maps.Clone(s.tables)
	for name, d := range drafts {
		recs := d.recs
		if d.removed {
			recs = slices.DeleteFunc(slices.Clone(recs), func(r map[string]any) bool { return r == nil })
		}
		next[name] = recs
	}
	if err := s.write(ctx, next, drafts); err != nil {
		return s.notWritten(ctx, err)
	}
	s.tables = next
	s.indexes = map[indexKey]map[string]int{}
	return nil
}

// notWritten says that a failed Apply left the file as it was.
func (s *jsonStore) notWritten(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("writing state %s was interrupted (%w); nothing was written", s.path, ctx.Err())
	}
	return fmt.Errorf("%w; nothing was written", err)
}

func (s *jsonStore) draft(drafts map[string]*draft, t *Table) (*draft, error) {
	if t != nil && t.Scope != nil {
		return nil, ErrScopeNeedsSQL
	}
	name := tableName(t)
	if d, ok := drafts[name]; ok {
		return d, nil
	}
	recs, ok := s.tables[name]
	if !ok {
		return nil, s.noTable(name)
	}
	ik := indexKey{name, keyName(t), t.SoftDelete}
	idx, err := buildIndex(s.path, ik, recs)
	if err != nil {
		return nil, err
	}
	d := &draft{recs: slices.Clone(recs), cloned: make([]bool, len(recs)), idx: idx, key: ik.key}
	for _, rec := range recs {
		if v, ok := rec[ik.key]; ok && v != nil {
			_, d.numKeys = v.(json.Number)
			break
		}
	}
	drafts[name] = d
	return d, nil
}

// record returns a modifiable copy of record i.
func (d *draft) record(i int) map[string]any {
	if i < len(d.cloned) && !d.cloned[i] {
		d.recs[i] = maps.Clone(d.recs[i])
		d.cloned[i] = true
	}
	return d.recs[i]
}

func (s *jsonStore) applyOne(drafts map[string]*draft, ch Change, now string) error {
	if ch.Table == nil {
		return errors.New("a change has no table")
	}
	t := ch.Table
	if ch.Key == "" {
		return fmt.Errorf("%s %s: the change has no key", ch.Op, t.Resource)
	}
	d, err := s.draft(drafts, t)
	if err != nil {
		return err
	}
	if !checkJSON(d, t, &ch) {
		return nil // a conflict: not written, its Expect says why
	}
	key, soft := keyName(t), t.SoftDelete
	i, exists := d.idx[ch.Key]
	live := exists && (soft == "" || isLive(d.recs[i][soft]))
	switch ch.Op {
	case OpCreate:
		// Like SQLite: revive a soft-deleted record, overwrite one that
		// appeared since the plan was made, never add the key twice.
		var rec map[string]any
		if exists {
			rec = d.record(i)
		} else {
			rec = map[string]any{key: ch.Key}
			if d.numKeys {
				if _, err := strconv.ParseFloat(ch.Key, 64); err == nil {
					rec[key] = json.Number(ch.Key)
				}
			}
			d.idx[ch.Key] = len(d.recs)
			d.recs = append(d.recs, rec)
		}
		if err := d.setValues(rec, t, ch); err != nil {
			return err
		}
		if _, given := ch.Values[soft]; soft != "" && !given && !isLive(rec[soft]) {
			rec[soft] = nil
		}
	case OpUpdate:
		if !live {
			return fmt.Errorf("update %s %s: table %q has no live record with %s = %q any more (it changed since it was read: run again)",
				t.Resource, ch.Key, tableName(t), key, ch.Key)
		}
		return d.setValues(d.record(i), t, ch)
	case OpDelete:
		if !live {
			return fmt.Errorf("delete %s %s: table %q has no live record with %s = %q any more (it changed since it was read: run again)",
				t.Resource, ch.Key, tableName(t), key, ch.Key)
		}
		if soft != "" {
			d.record(i)[soft] = now
			return nil
		}
		d.recs[i], d.removed = nil, true
		delete(d.idx, ch.Key)
	default:
		return fmt.Errorf("%s %s: unknown change %q", t.Resource, ch.Key, ch.Op)
	}
	return nil
}

func (d *draft) setValues(rec map[string]any, t *Table, ch Change) error {
	key := keyName(t)
	for col, v := range ch.Values {
		if col == key {
			continue // the key comes from ch.Key
		}
		var tf timeFormat
		asTime := isTimeColumn(t, col)
		if asTime {
			// The value being replaced says how this snapshot writes the
			// field; a new record follows the table's other records.
			if tf = timeFormatOf(rec[col]); tf.kind == 0 {
				tf = d.timeFormat(col)
			}
		}
		jv, err := jsonValue(v, asTime, tf)
		if err != nil {
			return fmt.Errorf("%s %s %s: field %q: %w", ch.Op, t.Resource, ch.Key, col, err)
		}
		rec[col] = jv
	}
	return nil
}

func isTimeColumn(t *Table, col string) bool {
	if col == t.UpdatedAt {
		return true
	}
	for _, f := range t.Fields {
		if f.Column == col && f.Compare == CompareTime {
			return true
		}
	}
	return false
}

// timeFormat is the format of the first value of col that the table's
// records hold in a format reconctl can reproduce (learnt once per Apply).
func (d *draft) timeFormat(col string) timeFormat {
	if tf, ok := d.formats[col]; ok {
		return tf
	}
	var tf timeFormat
	for _, rec := range d.recs {
		if rec == nil || rec[col] == nil {
			continue
		}
		if tf = timeFormatOf(rec[col]); tf.kind != 0 {
			break
		}
	}
	if d.formats == nil {
		d.formats = map[string]timeFormat{}
	}
	d.formats[col] = tf
	return tf
}

// jsonValue converts a provider value for the snapshot: JSON types stay as
// they are (numbers as json.Number), a time field is written in the format
// tf the field already has (by default RFC 3339 UTC text).
func jsonValue(v any, asTime bool, tf timeFormat) (any, error) {
	if asTime {
		if t, ok := ParseTime(v); ok {
			if n, ok := tf.value(t, false).(int64); ok {
				return json.Number(strconv.FormatInt(n, 10)), nil
			}
			return tf.value(t, false), nil
		}
	}
	switch x := v.(type) {
	case nil, string, bool, json.Number, map[string]any, []any:
		return x, nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case int:
		return json.Number(strconv.Itoa(x)), nil
	case time.Time:
		return FormatTime(x), nil
	}
	// Anything else (float64, other maps and lists): through JSON and back.
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot store %s: %w", describe(v), err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// write replaces the snapshot atomically: a temp file in the same directory,
// fsync, rename over the old file, fsync the directory. A crash or a
// cancelled ctx leaves the old file or the new one, never half of one.
func (s *jsonStore) write(ctx context.Context, tables map[string][]map[string]any, drafts map[string]*draft) error {
	target, err := filepath.EvalSymlinks(s.path) // replace the file a symlink points to, not the link
	if err != nil {
		return fmt.Errorf("state %s: %w", s.path, err)
	}
	fi, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("state %s: %w", s.path, err)
	}
	if stampOf(fi) != s.stamp {
		return fmt.Errorf("state %s changed on disk since reconctl read it (another writer?); run again", s.path)
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".reconctl-*.tmp")
	if err != nil {
		return fmt.Errorf("cannot write state %s: %w", s.path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return fmt.Errorf("cannot write state %s: %w", s.path, err)
	}
	bw := bufio.NewWriterSize(tmp, 1<<20)
	var layout *fileLayout
	if s.layout != nil {
		// Only what changed is written anew; every other byte is copied
		// from the file as loaded (its stamp was checked above).
		old, err := os.Open(target)
		if err != nil {
			return fmt.Errorf("state %s: %w", s.path, err)
		}
		layout, err = writePreserving(ctx, bw, old, fi.Size(), s.layout, s.tables, drafts)
		old.Close()
		if err != nil {
			return fmt.Errorf("cannot write state %s: %w", s.path, err)
		}
	} else if err := encodeSnapshot(ctx, bw, tables); err != nil {
		return fmt.Errorf("cannot write state %s: %w", s.path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cannot write state %s: %w", s.path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("cannot write state %s: %w", s.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cannot write state %s: %w", s.path, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Writing a large snapshot takes a while: look again, just before the
	// rename, whether another writer replaced the file meanwhile. (What it
	// writes between this check and the rename is still lost: the stamp
	// is a guard against another writer, not a lock.)
	if beforeRenameHook != nil {
		beforeRenameHook()
	}
	if fi, err := os.Stat(target); err != nil || stampOf(fi) != s.stamp {
		return fmt.Errorf("state %s changed on disk while reconctl wrote it (another writer?); nothing was written, run again", s.path)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("cannot write state %s: %w", s.path, err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		d.Sync() // make the rename itself durable; some filesystems cannot, which is fine
		d.Close()
	}
	if fi, err := os.Stat(target); err == nil {
		s.stamp = stampOf(fi)
	}
	s.layout = layout
	return nil
}

// beforeRenameHook, when set (tests), runs after the new snapshot is
// written to its temp file and before the stamp's last check and the rename.
var beforeRenameHook func()

// encodeSnapshot writes tables as json.Encoder with a two-space indent would
// (sorted keys, trailing newline), one record at a time so a large snapshot
// is not built twice in memory.
func encodeSnapshot(ctx context.Context, w io.Writer, tables map[string][]map[string]any) error {
	names := slices.Sorted(maps.Keys(tables))
	if len(names) == 0 {
		_, err := io.WriteString(w, "{}\n")
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("    ", "  ")
	bw := bufio.NewWriter(w)
	bw.WriteString("{\n")
	for ti, name := range names {
		buf.Reset()
		if err := enc.Encode(name); err != nil {
			return err
		}
		bw.WriteString("  ")
		bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		bw.WriteString(": [")
		recs := tables[name]
		for i, rec := range recs {
			if i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			buf.Reset()
			if err := enc.Encode(rec); err != nil {
				return fmt.Errorf("%s[%d]: %w", name, i, err)
			}
			if i > 0 {
				bw.WriteString(",")
			}
			bw.WriteString("\n    ")
			bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		}
		if len(recs) > 0 {
			bw.WriteString("\n  ")
		}
		bw.WriteString("]")
		if ti < len(names)-1 {
			bw.WriteString(",")
		}
		bw.WriteString("\n")
	}
	bw.WriteString("}\n")
	return bw.Flush()
}
