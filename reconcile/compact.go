package reconcile

// The compact plan of --force rewrites (issue #16): a million in-sync
// records rewritten anyway are most of a resync --force plan. Held as
// pending values they cost ~300 bytes each in Go objects the collector
// traces (the entry, its value slice, the provider's strings); encoded here
// they cost ~60 bytes in pointer-free blocks, written once during the
// comparison and read once, in plan order, by the apply. A key is stored
// as the length of the prefix it shares with the previous rewrite's key
// and the rest: providers list in id order, so keys mostly differ from
// the one before in their last few bytes (a million cus_… ids: 13 bytes
// of key stored in about 3).

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"unsafe"

	"github.com/reconctl/reconctl/localstate"
)

// forceBlockSize is the size of one block of encoded rewrites: large enough
// that a million rewrites take a few dozen, small enough that growing the
// plan never copies it.
const forceBlockSize = 4 << 20

// Value tags of the encoding.
const (
	tagNil byte = iota
	tagString
	tagNumber // json.Number
	tagFloat
	tagTrue
	tagFalse
	tagInt // int64
	tagOther
)

// forcePlan is a resource's --force rewrites of in-sync records: each an
// unconditional-looking update (op update, no drift item, conditional on
// the scanned row's exact hash (exactValues) and updated_at) of the columns of one of colSets.
// Records are appended and never modified: strings handed out by the
// reader point into the blocks (which therefore must never be written
// again below their length), but for a key sharing a prefix with the one
// before it, which the reader puts together in a string of its own.
type forcePlan struct {
	blocks  [][]byte
	n       int
	last    []byte // the key of the last rewrite added (a copy)
	colSets [][]string
	colIdx  map[string]int
	// other holds the values with no compact form (objects, lists, other
	// Go types), by index; few plans have any.
	other []any
}

// len is the number of rewrites.
func (f *forcePlan) len() int {
	if f == nil {
		return 0
	}
	return f.n
}

// colSet is the index of cols in colSets, adding it (a copy) if new.
func (f *forcePlan) colSet(cols []string) int {
	k := strings.Join(cols, "\x00")
	if i, ok := f.colIdx[k]; ok {
		return i
	}
	if f.colIdx == nil {
		f.colIdx = map[string]int{}
	}
	f.colSets = append(f.colSets, append([]string(nil), cols...))
	f.colIdx[k] = len(f.colSets) - 1
	return len(f.colSets) - 1
}

// add appends one rewrite: key, the columns of colSets[cs] and their
// values, and the row's indexed exact hash and updated_at.
func (f *forcePlan) add(key string, cs int, hash uint64, upd int64, ver localstate.RowVersion, vals []any) {
	need := 6*binary.MaxVarintLen64 + 8 + len(key)
	for _, v := range vals {
		switch x := v.(type) {
		case string:
			need += binary.MaxVarintLen64 + 1 + len(x)
		case json.Number:
			need += binary.MaxVarintLen64 + 1 + len(x)
		default:
			need += binary.MaxVarintLen64 + 1
		}
	}
	var b []byte
	if len(f.blocks) > 0 {
		b = f.blocks[len(f.blocks)-1]
	}
	if cap(b)-len(b) < need {
		// Blocks double from 64 kB to forceBlockSize: a small plan takes
		// little more than it needs.
		size := min(forceBlockSize, 64<<10<<min(len(f.blocks), 6))
		b = make([]byte, 0, max(size, need))
		f.blocks = append(f.blocks, b)
	}
	shared := 0
	for shared < len(key) && shared < len(f.last) && key[shared] == f.last[shared] {
		shared++
	}
	f.last = append(f.last[:0], key...)
	b = binary.AppendUvarint(b, uint64(shared))
	b = binary.AppendUvarint(b, uint64(len(key)-shared))
	b = append(b, key[shared:]...)
	b = binary.AppendUvarint(b, uint64(cs))
	b = binary.LittleEndian.AppendUint64(b, hash)
	b = binary.AppendVarint(b, upd)
	b = binary.AppendUvarint(b, ver.Loc)
	b = binary.AppendUvarint(b, uint64(ver.Xact))
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
			b = append(b, tagNil)
		case string:
			b = append(b, tagString)
			b = binary.AppendUvarint(b, uint64(len(x)))
			b = append(b, x...)
		case json.Number:
			b = append(b, tagNumber)
			b = binary.AppendUvarint(b, uint64(len(x)))
			b = append(b, x...)
		case float64:
			b = append(b, tagFloat)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		case bool:
			if x {
				b = append(b, tagTrue)
			} else {
				b = append(b, tagFalse)
			}
		case int64:
			b = append(b, tagInt)
			b = binary.AppendVarint(b, x)
		default:
			b = append(b, tagOther)
			b = binary.AppendUvarint(b, uint64(len(f.other)))
			f.other = append(f.other, v)
		}
	}
	f.blocks[len(f.blocks)-1] = b
	f.n++
}

// forceReader reads a forcePlan's rewrites in order.
type forceReader struct {
	f        *forcePlan
	blk, off int
	prev     string // the key of the rewrite read last
}

func (f *forcePlan) reader() forceReader { return forceReader{f: f} }

// next decodes the next rewrite into *p, its values appended to vals[:0]
// (p.vals aliases vals' array: the caller gives each pending it keeps its
// own); false at the end. The string values, and a key that shares no
// prefix with the one before, point into the plan's blocks: no copy, and
// they stay valid as long as the plan is referenced; a key that shares one
// is put together in a string of its own.
func (r *forceReader) next(p *pending, vals []any) bool {
	f := r.f
	if f == nil {
		return false
	}
	for r.blk < len(f.blocks) && r.off >= len(f.blocks[r.blk]) {
		r.blk, r.off = r.blk+1, 0
	}
	if r.blk >= len(f.blocks) {
		return false
	}
	b := f.blocks[r.blk]
	off := r.off
	str := func() string {
		l, n := binary.Uvarint(b[off:])
		off += n
		s := unsafe.String(unsafe.SliceData(b[off:]), int(l))
		if l == 0 {
			s = ""
		}
		off += int(l)
		return s
	}
	shared, n := binary.Uvarint(b[off:])
	off += n
	key := str()
	if shared > 0 {
		key = r.prev[:shared] + key
	}
	r.prev = key
	cs, n := binary.Uvarint(b[off:])
	off += n
	hash := binary.LittleEndian.Uint64(b[off:])
	off += 8
	upd, n := binary.Varint(b[off:])
	off += n
	var ver localstate.RowVersion
	ver.Loc, n = binary.Uvarint(b[off:])
	off += n
	xact, n := binary.Uvarint(b[off:])
	off += n
	ver.Xact = uint32(xact)
	cols := f.colSets[cs]
	vals = vals[:0]
	for range cols {
		tag := b[off]
		off++
		switch tag {
		case tagNil:
			vals = append(vals, nil)
		case tagString:
			vals = append(vals, str())
		case tagNumber:
			vals = append(vals, json.Number(str()))
		case tagFloat:
			vals = append(vals, math.Float64frombits(binary.LittleEndian.Uint64(b[off:])))
			off += 8
		case tagTrue:
			vals = append(vals, true)
		case tagFalse:
			vals = append(vals, false)
		case tagInt:
			x, n := binary.Varint(b[off:])
			off += n
			vals = append(vals, x)
		case tagOther:
			i, n := binary.Uvarint(b[off:])
			off += n
			vals = append(vals, f.other[i])
		}
	}
	r.off = off
	*p = pending{op: localstate.OpUpdate, key: key, cols: cols, vals: vals, drift: -1, cond: condRow, hash: hash, upd: upd, ver: ver}
	return true
}

// filter rebuilds the plan keeping, of each rewrite, the columns keep
// allows (a rewrite left with none leaves the plan).
func (f *forcePlan) filter(keep func(key, col string) bool) *forcePlan {
	if f.len() == 0 {
		return f
	}
	var p pending
	var buf, vals []any
	unchanged := true
	for r := f.reader(); unchanged && r.next(&p, buf); {
		buf = p.vals
		for _, c := range p.cols {
			unchanged = unchanged && keep(p.key, c)
		}
	}
	if unchanged {
		return f // no copy of a plan that keeps every column
	}
	out := &forcePlan{}
	r := f.reader()
	var cols []string
	for r.next(&p, buf) {
		buf = p.vals
		cols, vals = cols[:0], vals[:0]
		for i, c := range p.cols {
			if keep(p.key, c) {
				cols = append(cols, c)
				vals = append(vals, p.vals[i])
			}
		}
		if len(cols) == 0 {
			continue
		}
		out.add(p.key, out.colSet(cols), p.hash, p.upd, p.ver, vals)
	}
	return out
}
