package reconcile

import (
	"hash/maphash"

	"github.com/reconctl/reconctl/localstate"
)

// localIndex holds what the engine keeps of each local record while the
// provider streams: its key and a hash of its compared values — never the
// values. It is pointer-free (keys live in one byte arena, entries in one
// slice, the map is keyed by a 64-bit hash of the key), so a million records
// take ~80 MB and cost the garbage collector almost nothing to scan.
type localIndex struct {
	arena   []byte
	entries []localEntry
	byHash  map[uint64]uint32 // key hash -> entry index
	// overflow holds keys whose 64-bit hash collides with another key's:
	// vanishingly rare, but exactness does not rest on probabilities.
	overflow map[string]uint32
}

type localEntry struct {
	keyOff  uint32
	keyLen  uint32
	hash    uint64 // hash of the compared values' canonical forms (compare modes applied)
	exact   uint64 // hash of the values as read (no compare mode): what a write is conditional on
	updated int64  // local updated_at in unix ms; 0 when unknown
	// verLoc and verXact are the row's stored version as scanned
	// (localstate.RowVersion; zero: the store gives none): a write
	// conditional on exact may be checked by it. Held as two fields so that
	// the entry stays 48 bytes.
	verLoc  uint64
	verXact uint32
	seen    bool // the provider listed it
}

func (e *localEntry) ver() localstate.RowVersion {
	return localstate.RowVersion{Loc: e.verLoc, Xact: e.verXact}
}

var keySeed = maphash.MakeSeed()

func newLocalIndex(sizeHint int) *localIndex {
	return &localIndex{
		byHash:  make(map[uint64]uint32, sizeHint),
		entries: make([]localEntry, 0, sizeHint),
		arena:   make([]byte, 0, sizeHint*16),
	}
}

func (x *localIndex) key(e *localEntry) string {
	return string(x.arena[e.keyOff : e.keyOff+e.keyLen])
}

func (x *localIndex) keyEquals(e *localEntry, k string) bool {
	return string(x.arena[e.keyOff:e.keyOff+e.keyLen]) == k
}

// lookup returns the entry of key k, or nil.
func (x *localIndex) lookup(k string) *localEntry {
	h := maphash.String(keySeed, k)
	if i, ok := x.byHash[h]; ok {
		if e := &x.entries[i]; x.keyEquals(e, k) {
			return e
		}
	}
	if x.overflow != nil {
		if i, ok := x.overflow[k]; ok {
			return &x.entries[i]
		}
	}
	return nil
}

// add inserts k; it returns false when k is already present.
// valueHash and exactHash are the row's hashValues and exactValues.
func (x *localIndex) add(k string, valueHash, exactHash uint64, updated int64, ver localstate.RowVersion) bool {
	h := maphash.String(keySeed, k)
	j, taken := x.byHash[h]
	if taken {
		if x.keyEquals(&x.entries[j], k) {
			return false
		}
		if _, dup := x.overflow[k]; dup {
			return false
		}
	}
	i := uint32(len(x.entries))
	x.entries = append(x.entries, localEntry{keyOff: uint32(len(x.arena)), keyLen: uint32(len(k)), hash: valueHash, exact: exactHash, updated: updated, verLoc: ver.Loc, verXact: ver.Xact})
	x.arena = append(x.arena, k...)
	if taken {
		if x.overflow == nil {
			x.overflow = map[string]uint32{}
		}
		x.overflow[k] = i
		return true
	}
	x.byHash[h] = i
	return true
}

func (x *localIndex) len() int { return len(x.entries) }
