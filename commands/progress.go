package commands

import (
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/reconctl/reconctl/reconcile"
)

// barProgress draws progress bars on stderr. It is only used when stderr is a
// terminal and neither --quiet nor --no-progress is given, so stdout (the
// report) is never touched and pipes and cron jobs see nothing.
type barProgress struct {
	w   io.Writer
	mu  sync.Mutex
	bar *progressbar.ProgressBar
}

var _ reconcile.Progress = (*barProgress)(nil)

func (p *barProgress) start(total int, desc, unit string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
	}
	p.bar = progressbar.NewOptions(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionSetPredictTime(total > 0),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetRenderBlankState(true),
	)
}

func (p *barProgress) add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		return
	}
	// An estimate can be exceeded: grow the bar rather than overflow it.
	if max := p.bar.GetMax(); max > 0 && int(p.bar.State().CurrentNum)+n > max {
		p.bar.ChangeMax(int(p.bar.State().CurrentNum) + n)
	}
	_ = p.bar.Add(n)
}

func (p *barProgress) Listing(resource string, estimate int) {
	if estimate <= 0 {
		estimate = -1
	}
	p.start(estimate, "listing "+resource, "records")
}
func (p *barProgress) Listed(resource string, n int) { p.add(n) }
func (p *barProgress) Confirming(resource string, total int) {
	p.start(total, "confirming missing "+resource, "checks")
}
func (p *barProgress) Confirmed(resource string, n int) { p.add(n) }

func (p *barProgress) Applying(total int) { p.start(total, "applying", "writes") }
func (p *barProgress) Applied(n int)      { p.add(n) }

// Events is used by replay: total events to process.
func (p *barProgress) Events(total int) { p.start(total, "replaying events", "events") }

// Step advances the current bar by one (replay).
func (p *barProgress) Step() { p.add(1) }

func (p *barProgress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
}
