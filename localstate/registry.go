package localstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Backend is one kind of state in the store registry: how a location names
// it, how to open it, how to show the location, where its journal lives and
// how its writers are serialised. Adding a store is one file that calls
// Register from init.
type Backend struct {
	// Name is the store's Kind ("sqlite", "json", "postgres").
	Name string
	// Title names the kind in messages: "a SQLite database".
	Title string
	// Schemes are the URL schemes of server locations ("postgres" matches
	// postgres://…). A backend has schemes or extensions, not both.
	Schemes []string
	// Extensions are the file name endings of file locations (".db"),
	// lower case, matched case-insensitively.
	Extensions []string
	// Open opens the state at location; it never creates it. For a file
	// backend the registry has already checked the file exists.
	Open func(ctx context.Context, location string, opts OpenOptions) (Store, error)
	// Redact is the location as it may be printed, logged and journaled
	// (a DSN without its password). nil: the location as is (a file path).
	Redact func(location string) string
	// Journal says where the journal of a state at location lives.
	Journal func(location string) JournalPlace
	// LockFile is the file whose one-writer lock (<file>.reconctl.lock,
	// taken by the journal package) guards the state. nil: the store has no
	// file to lock beside; a server store locks in the server (#14).
	LockFile func(location string) string
	// Lock takes the one-writer lock of a server state in the server
	// itself, one lock per resource table (see LockServer). nil: the
	// store is locked by its LockFile.
	Lock func(ctx context.Context, location string, opts ServerOptions, resources []string, h LockHolder, wait time.Duration) (*ServerLock, error)
	// Fingerprint identifies the state's content (a file's SHA-256), for a
	// store without transactions: the journal compares it to tell whether a
	// killed run's apply landed. nil: the store's writes are transactional.
	Fingerprint func(location string) (string, error)
}

// JournalPlace is where a state's journal lives.
type JournalPlace struct {
	// Location is the journal's own location (a SQLite file path).
	Location string
	// InState: the journal is in the state's own database, so its rows can
	// commit in the state's transaction (Features().Begin).
	InState bool
	// Create: the journal may be created (a sidecar file); never for the
	// state's own database.
	Create bool
}

var (
	regMu    sync.RWMutex
	backends []*Backend
)

// Register adds a backend to the store registry. It panics on a scheme or
// extension that another backend already has (a programming error).
func Register(b Backend) {
	regMu.Lock()
	defer regMu.Unlock()
	for _, o := range backends {
		for _, s := range b.Schemes {
			if containsFold(o.Schemes, s) {
				panic("localstate: scheme " + s + " registered twice")
			}
		}
		for _, e := range b.Extensions {
			if containsFold(o.Extensions, e) {
				panic("localstate: extension " + e + " registered twice")
			}
		}
	}
	backends = append(backends, &b)
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

var schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// Scheme is the URL scheme of a server location (postgres://…), lower case,
// or "" for a file path.
func Scheme(location string) string {
	m := schemeRE.FindStringSubmatch(location)
	if m == nil {
		return ""
	}
	return strings.ToLower(m[1])
}

// IsFile reports whether location is a file path (resolved against a
// directory, locked by a file beside it) rather than a server DSN.
func IsFile(location string) bool { return Scheme(location) == "" }

// Lookup finds the backend for location: by scheme for a DSN, else by file
// extension. The error says which locations reconctl reads.
func Lookup(location string) (*Backend, error) {
	regMu.RLock()
	defer regMu.RUnlock()
	if sch := Scheme(location); sch != "" {
		for _, b := range backends {
			if containsFold(b.Schemes, sch) {
				return b, nil
			}
		}
		return nil, fmt.Errorf("state %s: %s:// is not a kind of state reconctl reads; use %s", RedactLocation(location), sch, kinds())
	}
	ext := strings.ToLower(filepath.Ext(location))
	if ext != "" {
		for _, b := range backends {
			if containsFold(b.Extensions, ext) {
				return b, nil
			}
		}
	}
	what := fmt.Sprintf("files ending in %q are not a kind of state reconctl reads", ext)
	if ext == "" {
		what = "the name has no extension, so reconctl cannot tell what kind of state it is"
	}
	return nil, fmt.Errorf("state %s: %s; use %s", location, what, kinds())
}

// kinds lists the file kinds reconctl reads, for error messages: "a SQLite
// database (.db, .sqlite, .sqlite3) or a JSON snapshot (.json)".
func kinds() string {
	var parts []string
	for _, b := range backends {
		if len(b.Extensions) == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", b.Title, strings.Join(b.Extensions, ", ")))
	}
	return strings.Join(parts, " or ")
}

// Schemes lists the registered URL schemes, sorted (for help and tests).
func Schemes() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	var out []string
	for _, b := range backends {
		out = append(out, b.Schemes...)
	}
	sort.Strings(out)
	return out
}

// RedactLocation is location as it may be shown: a DSN's password masked,
// a file path as is. An unknown location is redacted as a URL would be.
func RedactLocation(location string) string {
	if IsFile(location) {
		return location
	}
	regMu.RLock()
	var b *Backend
	sch := Scheme(location)
	for _, x := range backends {
		if containsFold(x.Schemes, sch) {
			b = x
		}
	}
	regMu.RUnlock()
	if b != nil && b.Redact != nil {
		return b.Redact(location)
	}
	return redactURL(location)
}

// JournalOf says where the journal of the state at location lives.
func JournalOf(location string) (JournalPlace, error) {
	b, err := Lookup(location)
	if err != nil {
		return JournalPlace{}, err
	}
	if b.Journal == nil {
		return JournalPlace{}, fmt.Errorf("state %s: %s states have no journal yet: pass --journal PATH", RedactLocation(location), b.Name)
	}
	return b.Journal(location), nil
}

// LockFileOf is the file whose one-writer lock guards the state at location
// (see Backend.LockFile).
func LockFileOf(location string) (string, error) {
	b, err := Lookup(location)
	if err != nil {
		return "", err
	}
	if b.LockFile == nil {
		return "", fmt.Errorf("state %s: writing a %s state is not supported yet (it has no writer lock)", RedactLocation(location), b.Name)
	}
	return b.LockFile(location), nil
}

// FingerprintOf is Backend.Fingerprint for the state at location.
func FingerprintOf(location string) (string, error) {
	b, err := Lookup(location)
	if err != nil {
		return "", err
	}
	if b.Fingerprint == nil {
		return "", fmt.Errorf("state %s: a %s state has no content fingerprint (its writes are transactional)", RedactLocation(location), b.Name)
	}
	return b.Fingerprint(location)
}

// fileSHA256 is the hex SHA-256 of a file's content.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Open opens the state at location with the backend the registry chooses
// for it: .db, .sqlite, .sqlite3 are SQLite databases, .json a JSON
// snapshot; a scheme:// location is a server store. It never creates a
// state.
func Open(ctx context.Context, location string, opts OpenOptions) (Store, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	b, err := Lookup(location)
	if err != nil {
		return nil, err
	}
	if IsFile(location) {
		fi, err := os.Stat(location)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &missingError{path: location}
		}
		if err != nil {
			return nil, fmt.Errorf("state %s: %w", location, err)
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("state %s is a directory; --state / state: must name the database or snapshot file", location)
		}
	}
	return b.Open(ctx, location, opts)
}

// SidecarJournal is the journal place of a file state without a database of
// its own (a JSON snapshot): a SQLite file beside it, <state>.reconctl.db,
// created on first use.
func SidecarJournal(location string) JournalPlace {
	return JournalPlace{Location: location + ".reconctl.db", Create: true}
}

// InStateJournal is the journal place of a SQL state: its own database.
func InStateJournal(location string) JournalPlace {
	return JournalPlace{Location: location, InState: true}
}

func sameFile(location string) string { return location }

func init() {
	Register(Backend{
		Name:       "sqlite",
		Title:      "a SQLite database",
		Extensions: []string{".db", ".sqlite", ".sqlite3"},
		Open: func(ctx context.Context, loc string, opts OpenOptions) (Store, error) {
			return openSQLite(ctx, loc, opts)
		},
		Journal:  InStateJournal,
		LockFile: sameFile,
	})
	Register(Backend{
		Name:       "json",
		Title:      "a JSON snapshot",
		Extensions: []string{".json"},
		Open: func(ctx context.Context, loc string, opts OpenOptions) (Store, error) {
			return openJSON(ctx, loc, opts)
		},
		Journal:     SidecarJournal,
		LockFile:    sameFile,
		Fingerprint: fileSHA256,
	})
}
