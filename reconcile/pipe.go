package reconcile

import (
	"time"

	"github.com/reconctl/reconctl/localstate"
)

// A pipe hands records from a reader (a store's Scan or a provider's List
// callback, which run on the caller's goroutine) to one consumer goroutine
// in batches, so reading and comparing use two cores. Batches are recycled:
// the consumer must copy what it keeps of an item's vals.
type pipe struct {
	width int
	full  chan *itemBatch
	free  chan *itemBatch
	cur   *itemBatch
	done  chan struct{}
}

// item is one record in flight: its key, provider updated_at, and the
// compared values (present[i] false: the field is absent).
type item struct {
	key     string
	upd     time.Time
	at      int64 // when the provider's copy was read (unix ns)
	vals    []any
	present []bool
	ver     localstate.RowVersion // a local row's stored version (localstate.Row.Version)
}

type itemBatch struct {
	items   []item
	vals    []any
	present []bool
}

const (
	pipeBatch   = 512
	pipeBatches = 4
)

func newPipe(width int) *pipe {
	p := &pipe{width: width, full: make(chan *itemBatch, pipeBatches), free: make(chan *itemBatch, pipeBatches), done: make(chan struct{})}
	for range pipeBatches {
		p.free <- &itemBatch{items: make([]item, 0, pipeBatch), vals: make([]any, pipeBatch*width), present: make([]bool, pipeBatch*width)}
	}
	p.cur = <-p.free
	return p
}

// start runs consume on every item, in order, on its own goroutine.
func (p *pipe) start(consume func(*item)) {
	go func() {
		defer close(p.done)
		for b := range p.full {
			for i := range b.items {
				consume(&b.items[i])
			}
			b.items = b.items[:0]
			p.free <- b
		}
	}()
}

// next returns the next empty item (vals and present of the pipe's width).
func (p *pipe) next() *item {
	b := p.cur
	if len(b.items) == pipeBatch {
		p.full <- b
		b = <-p.free
		p.cur = b
	}
	n := len(b.items)
	b.items = b.items[:n+1]
	it := &b.items[n]
	it.upd = time.Time{}
	it.vals = b.vals[n*p.width : (n+1)*p.width : (n+1)*p.width]
	it.present = b.present[n*p.width : (n+1)*p.width : (n+1)*p.width]
	return it
}

// finish hands over the last batch and waits until everything is consumed.
func (p *pipe) finish() {
	if len(p.cur.items) > 0 {
		p.full <- p.cur
	}
	close(p.full)
	<-p.done
}
