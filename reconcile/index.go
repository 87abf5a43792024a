package reconcile

import (
	"hash/maphash"
	"math/bits"

	"github.com/reconctl/reconctl/localstate"
)

// localIndex holds what the engine keeps of each local record while the
// provider streams: its key and a hash of its compared values — never the
// values. It is pointer-free, so the garbage collector never scans it, and
// holds no Go map: keys live in one byte arena, entries in one slice, and
// an open-addressing table of 8-byte slots finds an entry by key. Columns
// that not every run needs are kept apart and only when needed: the exact
// hash (only when a field has a compare mode; otherwise it is the value
// hash), updated_at (only with an updated_at column). A million records
// with the benchmark's keys take about 45 MB (16 B an entry, 16 B of
// table, the key's bytes), where a map and 40-byte entries took 95 MB.
type localIndex struct {
	arena   []byte
	entries []localEntry
	exacts  []uint64 // per entry, when the exact hash is not the value hash (nil otherwise)
	updates []int64  // per entry, updated_at in unix ms (0 unknown); nil without updated_at
	// versions: per entry, the row's stored version as scanned
	// (localstate.RowVersion: a Postgres row's ctid and xmin), by which a
	// write conditional on the exact hash may be checked; nil until the
	// store gives a first one (zero: none).
	versions []localstate.RowVersion
	seen     []uint64 // a bit per entry: the provider listed it
	// table: 0 empty, else the key hash's high 32 bits << 32 | entry+1;
	// linear probing from the hash's low bits, at most half full. It is
	// built only when needed: while the keys come in increasing order (a
	// scan in key order) none can repeat an earlier one, and a lookup
	// searches the sorted entries instead (sorted), until a key comes out
	// of order or lookups away from the last hit are many (searches).
	table    []uint64
	sorted   bool
	searches int
	hint     int // the size hint, for the table's first size
	// near is where the last lookup found its key, plus one: the next
	// lookup tries the entries beside it first (both sides often list in
	// the same key order), which touches no table slot.
	near int
}

// localEntry is one local record's key and compared values' hash.
type localEntry struct {
	keyOff uint32
	keyLen uint32
	hash   uint64 // hash of the compared values' canonical forms (compare modes applied)
}

var keySeed = maphash.MakeSeed()

// newLocalIndex sizes an index for about sizeHint rows; separateExact keeps
// an exact hash apart from the value hash, withUpdated an updated_at.
func newLocalIndex(sizeHint int, separateExact, withUpdated bool) *localIndex {
	sizeHint = max(sizeHint, 16)
	x := &localIndex{
		entries: make([]localEntry, 0, sizeHint),
		arena:   make([]byte, 0, sizeHint*12),
		seen:    make([]uint64, 0, sizeHint/64+1),
		sorted:  true,
		hint:    sizeHint,
	}
	if separateExact {
		x.exacts = make([]uint64, 0, sizeHint)
	}
	if withUpdated {
		x.updates = make([]int64, 0, sizeHint)
	}
	return x
}

// tableSize is the power of two at least twice n.
func tableSize(n int) int {
	return 1 << bits.Len(uint(2*n-1))
}

func (x *localIndex) key(i int) string {
	e := &x.entries[i]
	return string(x.arena[e.keyOff : e.keyOff+e.keyLen])
}

func (x *localIndex) keyEquals(i int, k string) bool {
	e := &x.entries[i]
	return string(x.arena[e.keyOff:e.keyOff+e.keyLen]) == k
}

// hash is entry i's value hash; exact its exact hash (exactValues).
func (x *localIndex) hash(i int) uint64 { return x.entries[i].hash }

func (x *localIndex) exact(i int) uint64 {
	if x.exacts != nil {
		return x.exacts[i]
	}
	return x.entries[i].hash
}

// ver is entry i's stored row version, zero when the store gives none.
func (x *localIndex) ver(i int) localstate.RowVersion {
	if x.versions != nil {
		return x.versions[i]
	}
	return localstate.RowVersion{}
}

// updated is entry i's updated_at in unix ms, 0 when unknown.
func (x *localIndex) updated(i int) int64 {
	if x.updates != nil {
		return x.updates[i]
	}
	return 0
}

func (x *localIndex) isSeen(i int) bool { return x.seen[i/64]&(1<<(i%64)) != 0 }
func (x *localIndex) markSeen(i int)    { x.seen[i/64] |= 1 << (i % 64) }

// find returns the entry of key k (hash h), or -1.
func (x *localIndex) find(k string, h uint64) int {
	mask := uint64(len(x.table) - 1)
	tag := h >> 32 << 32
	for pos := h & mask; ; pos = (pos + 1) & mask {
		s := x.table[pos]
		if s == 0 {
			return -1
		}
		if s&^0xffffffff == tag {
			if i := int(uint32(s)) - 1; x.keyEquals(i, k) {
				return i
			}
		}
	}
}

// place puts entry i of hash h in the table (not present yet).
func (x *localIndex) place(i int, h uint64) {
	mask := uint64(len(x.table) - 1)
	pos := h & mask
	for x.table[pos] != 0 {
		pos = (pos + 1) & mask
	}
	x.table[pos] = h>>32<<32 | uint64(i+1)
}

// grow makes the table twice as large as it is, or as the entries need,
// and places every entry in it.
func (x *localIndex) grow() {
	x.table = make([]uint64, max(2*len(x.table), tableSize(max(len(x.entries)+1, x.hint))))
	for i := range x.entries {
		x.place(i, maphash.String(keySeed, x.key(i)))
	}
}

// lookup returns the entry of key k, or -1.
func (x *localIndex) lookup(k string) int {
	// The entry after the last one found, then the one before it.
	for _, i := range [2]int{x.near, x.near - 2} {
		if i >= 0 && i < len(x.entries) && x.keyEquals(i, k) {
			x.near = i + 1
			return i
		}
	}
	var i int
	if x.table == nil {
		if x.searches++; x.searches > 1024 && x.searches > len(x.entries)/16 {
			x.grow() // many lookups out of order: the table is cheaper
			i = x.find(k, maphash.String(keySeed, k))
		} else {
			i = x.search(k)
		}
	} else {
		i = x.find(k, maphash.String(keySeed, k))
	}
	if i >= 0 {
		x.near = i + 1
	}
	return i
}

// search finds k among the sorted entries (no table yet), or -1.
func (x *localIndex) search(k string) int {
	lo, hi := 0, len(x.entries)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		e := &x.entries[m]
		if string(x.arena[e.keyOff:e.keyOff+e.keyLen]) < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(x.entries) && x.keyEquals(lo, k) {
		return lo
	}
	return -1
}

// add inserts k; it returns false when k is already present.
// valueHash and exactHash are the row's hashValues and exactValues.
func (x *localIndex) add(k string, valueHash, exactHash uint64, updated int64, ver localstate.RowVersion) bool {
	if len(x.entries) >= 1<<32-2 {
		panic("reconcile: more than 4 billion local records")
	}
	if x.sorted && x.table == nil {
		if n := len(x.entries); n > 0 && k <= x.key(n-1) {
			x.sorted = false // out of order: a key may repeat, the table tells
			x.grow()
		}
	}
	var h uint64
	if x.table != nil {
		h = maphash.String(keySeed, k)
		if x.find(k, h) >= 0 {
			return false
		}
		if 2*(len(x.entries)+1) > len(x.table) {
			x.grow()
		}
	}
	i := len(x.entries)
	x.entries = append(x.entries, localEntry{keyOff: uint32(len(x.arena)), keyLen: uint32(len(k)), hash: valueHash})
	x.arena = append(x.arena, k...)
	if x.exacts != nil {
		x.exacts = append(x.exacts, exactHash)
	}
	if x.updates != nil {
		x.updates = append(x.updates, updated)
	}
	if x.versions == nil && ver != (localstate.RowVersion{}) {
		x.versions = make([]localstate.RowVersion, i, max(x.hint, i+1))
	}
	if x.versions != nil {
		x.versions = append(x.versions, ver)
	}
	if i%64 == 0 {
		x.seen = append(x.seen, 0)
	}
	if x.table != nil {
		x.place(i, h)
	}
	return true
}

func (x *localIndex) len() int { return len(x.entries) }
