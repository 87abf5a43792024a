package providers

// Features describes what a provider can do beyond List and Get, as data
// (the idea of rclone's fs.Features): each field is the capability itself,
// nil when the provider lacks it. Callers ask FeaturesOf(p) instead of
// type-asserting optional interfaces, and a wrapper states what it keeps
// with Mask instead of silently dropping (or silently keeping) what the
// provider it wraps can do.
type Features struct {
	// Events is the provider's events API (replay); nil: none.
	Events EventSource
	// EventTypes names the event types that concern some resources; nil:
	// replay asks for every type.
	EventTypes EventTyper
	// EmailLookup finds objects by email (check-user); nil: check-user
	// lists the resource instead.
	EmailLookup EmailFinder
	// EmailSearch finds an email in any case through a search API
	// (check-user --search); nil: none.
	EmailSearch EmailSearcher
	// EmailNote explains how EmailLookup matches (shown when nothing did);
	// nil: nothing to add.
	EmailNote EmailLookupNoter
	// Related lists a parent's dependants (a Stripe customer's
	// subscriptions); nil: objects have none.
	Related RelatedLister
	// WebhookSigner signs re-sent webhooks (replay --deliver-to); nil: the
	// provider has no known signature scheme.
	WebhookSigner WebhookSigner
	// Paths lists decoding only some field paths of each record; nil: the
	// engine lists with List (whole objects).
	Paths PathLister
	// Deletions names the event types that say an object is gone, so the
	// engine confirms missing_remote records from a page of events rather
	// than a Get each (with Events); nil: every one is confirmed by Get.
	Deletions DeletionEventer
	// Changes is the provider's own "changed since" feed (ChangesSince:
	// Clerk's updated_at order, REST's updated_after_param); nil:
	// ChangesSince reads Events, or the provider has no such feed.
	Changes ChangeLister
}

// Featurer is implemented by every provider: Features describes what the
// provider p can do.
type Featurer interface {
	Features() Features
}

// Fill sets each capability f lacks from the optional interfaces x
// implements, and returns f. Providers build their Features with it:
//
//	func (p *Provider) Features() providers.Features { return providers.Features{}.Fill(p) }
func (f Features) Fill(x any) Features {
	if f.Events == nil {
		f.Events, _ = x.(EventSource)
	}
	if f.EventTypes == nil {
		f.EventTypes, _ = x.(EventTyper)
	}
	if f.EmailLookup == nil {
		f.EmailLookup, _ = x.(EmailFinder)
	}
	if f.EmailSearch == nil {
		f.EmailSearch, _ = x.(EmailSearcher)
	}
	if f.EmailNote == nil {
		f.EmailNote, _ = x.(EmailLookupNoter)
	}
	if f.Related == nil {
		f.Related, _ = x.(RelatedLister)
	}
	if f.WebhookSigner == nil {
		f.WebhookSigner, _ = x.(WebhookSigner)
	}
	if f.Paths == nil {
		f.Paths, _ = x.(PathLister)
	}
	if f.Deletions == nil {
		f.Deletions, _ = x.(DeletionEventer)
	}
	if f.Changes == nil {
		f.Changes, _ = x.(ChangeLister)
	}
	return f
}

// Mask keeps only the capabilities that keep also has (non-nil there), and
// returns f. A wrapper that serves only some of what it wraps masks the
// wrapped provider's Features with the set it keeps.
func (f Features) Mask(keep Features) Features {
	if keep.Events == nil {
		f.Events = nil
	}
	if keep.EventTypes == nil {
		f.EventTypes = nil
	}
	if keep.EmailLookup == nil {
		f.EmailLookup = nil
	}
	if keep.EmailSearch == nil {
		f.EmailSearch = nil
	}
	if keep.EmailNote == nil {
		f.EmailNote = nil
	}
	if keep.Related == nil {
		f.Related = nil
	}
	if keep.WebhookSigner == nil {
		f.WebhookSigner = nil
	}
	if keep.Paths == nil {
		f.Paths = nil
	}
	if keep.Deletions == nil {
		f.Deletions = nil
	}
	if keep.Changes == nil {
		f.Changes = nil
	}
	return f
}

// FeaturesOf returns p's Features: p.Features() when p describes itself,
// else what its method set shows (test doubles; nil p has none).
func FeaturesOf(p Provider) Features {
	if p == nil {
		return Features{}
	}
	if fp, ok := p.(Featurer); ok {
		return fp.Features()
	}
	return Features{}.Fill(p)
}
