package snapshot

import (
	"io"
	"runtime"
	"sync"
)

// RecordsWith's reading: one goroutine frames the table's records (finds
// where each starts and ends, a quick pass that builds nothing) into chunks,
// workers decode the chunks on the other cores, and the caller's goroutine
// delivers the records in file order. Anything unexpected stops the fast
// reading at the first record it concerns; RecordsWith then reads the rest
// with encoding/json.

// fastBuffer is the size of a chunk (a record larger than it gets a chunk
// of its own).
var fastBuffer = 64 << 10

// chunk is a run of whole records: data holds them, ends[i] is where record
// i ends in data (it starts at starts[i]).
type chunk struct {
	data   []byte
	base   int64 // data[0]'s offset in the file
	starts []int
	ends   []int
	// stop: the fast reading cannot go past this chunk's records (the end
	// of the table when clean, else input for encoding/json).
	stop  bool
	clean bool

	recs []map[string]any
	bad  int // the first record decode refused (len(starts) when none)
	done chan struct{}
}

// fastRecords reads the table whose key ends at start, calling fn with each
// record decode reads. It returns true when it read the whole table or fn
// failed, false when the input needs encoding/json's reading.
func (r *Reader) fastRecords(start int64, decode DecodeFunc, fn func(off int64, rec map[string]any) error) bool {
	workers := max(1, runtime.GOMAXPROCS(0))
	work := make(chan *chunk, workers)
	order := make(chan *chunk, workers+1)
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1 + workers)
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(work)
		r.frame(start, func(c *chunk) bool {
			c.done = make(chan struct{})
			select {
			case order <- c:
			case <-quit:
				return false
			}
			select {
			case work <- c:
				return true
			case <-quit:
				return false
			}
		})
	}()
	for range workers {
		go func() {
			defer wg.Done()
			for c := range work {
				c.recs, c.bad = make([]map[string]any, 0, len(c.starts)), len(c.starts)
				for i, s := range c.starts {
					rec, n, err := decode(c.data[s:c.ends[i]])
					if err != nil || n != c.ends[i]-s {
						c.bad = i
						break
					}
					c.recs = append(c.recs, rec)
				}
				close(c.done)
			}
		}()
	}
	defer wg.Wait()
	defer close(quit)
	for c := range order {
		select {
		case <-c.done:
		case <-quit:
		}
		for i, rec := range c.recs {
			if err := fn(c.base+int64(c.starts[i]), rec); err != nil {
				return true
			}
		}
		if c.bad < len(c.starts) {
			return false
		}
		if c.stop {
			return c.clean
		}
	}
	return false // the framer ended without a last chunk: a read error
}

// frame cuts the table whose key ends at start into chunks of whole
// records and hands each to emit until emit returns false or a chunk is the
// last (stop set).
func (r *Reader) frame(start int64, emit func(*chunk) bool) {
	f := framer{r: r, emit: emit, buf: make([]byte, 0, fastBuffer), base: start, cur: &chunk{}}
	f.run()
}

// framer is frame's state. buf[0] is at base in the file; the current
// chunk's records start at from; starts, ends and pos index buf.
type framer struct {
	r    *Reader
	emit func(*chunk) bool
	buf  []byte
	base int64
	pos  int
	from int
	eof  bool
	cur  *chunk
}

// fill drops what is before from and reads more; false when nothing more
// can be read.
func (f *framer) fill() bool {
	if f.eof {
		return false
	}
	keep := f.from
	n := copy(f.buf[:cap(f.buf)], f.buf[keep:])
	f.buf, f.base, f.pos, f.from = f.buf[:n], f.base+int64(keep), f.pos-keep, 0
	for i := range f.cur.starts {
		f.cur.starts[i] -= keep
		f.cur.ends[i] -= keep
	}
	if n == cap(f.buf) {
		f.buf = append(f.buf, make([]byte, cap(f.buf))...)[:n]
	}
	m, err := f.r.src.ReadAt(f.buf[n:cap(f.buf)], f.base+int64(n))
	f.buf = f.buf[:n+m]
	if err == io.EOF {
		f.eof = true
	} else if err != nil {
		return false
	}
	return m > 0 || !f.eof
}

// next returns the next byte that is not whitespace; false at the end.
func (f *framer) next() (byte, bool) {
	for {
		for f.pos < len(f.buf) {
			switch c := f.buf[f.pos]; c {
			case ' ', '\t', '\r', '\n':
				f.pos++
			default:
				return c, true
			}
		}
		if !f.fill() {
			return 0, false
		}
	}
}

// flush hands the current chunk over (a copy of its bytes, so buf can be
// reused) and starts the next at pos; false when the reading ends.
func (f *framer) flush() bool {
	c := f.cur
	end := f.from
	if n := len(c.ends); n > 0 {
		end = c.ends[n-1]
	}
	c.data = append([]byte(nil), f.buf[f.from:end]...)
	c.base = f.base + int64(f.from)
	for i := range c.starts {
		c.starts[i] -= f.from
		c.ends[i] -= f.from
	}
	f.cur, f.from = &chunk{}, f.pos
	return f.emit(c) && !c.stop
}

// last hands over the current chunk as the last one.
func (f *framer) last(clean bool) {
	f.cur.stop, f.cur.clean = true, clean
	f.flush()
}

func (f *framer) run() {
	if c, ok := f.next(); !ok || c != ':' {
		f.last(false)
		return
	}
	f.pos++
	if c, ok := f.next(); !ok || c != '[' {
		f.last(false)
		return
	}
	f.pos++
	f.from = f.pos
	for first := true; ; first = false {
		c, ok := f.next()
		if !ok {
			f.last(false)
			return
		}
		if c == ']' {
			f.last(true)
			return
		}
		if !first {
			if c != ',' {
				f.last(false)
				return
			}
			f.pos++
			if c, ok = f.next(); !ok {
				f.last(false)
				return
			}
		}
		if c != '{' {
			f.last(false)
			return
		}
		if len(f.cur.starts) == 0 {
			f.from = f.pos
		}
		end := objectEnd(f.buf, f.pos)
		for end < 0 {
			if !f.fill() {
				f.last(false) // cut short: encoding/json says how
				return
			}
			end = objectEnd(f.buf, f.pos)
		}
		f.cur.starts, f.cur.ends = append(f.cur.starts, f.pos), append(f.cur.ends, end)
		f.pos = end
		if end-f.from >= fastBuffer/2 && !f.flush() {
			return
		}
	}
}

// objectEnd returns where the object starting at buf[pos] ('{') ends (just
// past its '}'), counting brackets outside strings; -1 when buf ends first.
// It checks nothing else: the decoder does.
func objectEnd(buf []byte, pos int) int {
	depth := 0
	for i := pos; i < len(buf); i++ {
		switch buf[i] {
		case '"':
			for i++; i < len(buf) && buf[i] != '"'; i++ {
				if buf[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}
