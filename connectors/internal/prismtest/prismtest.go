// Package prismtest runs Stoplight Prism (the pinned @stoplight/prism-cli of
// connectors/testdata/prism) as a validating mock of a vendor's own API
// description, for the catalogue's tests: one `prism mock --errors` per
// description file, started on first use and shared by every test of the
// package, and a reading of Prism's answers that tells a request Prism
// refused (it breaks the description) from one it answered.
package prismtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// startGuard bounds the wait for Prism to say it listens. It is a guard, not
// a wait: Klaviyo's 3 MB description loads in a few seconds, but eight test
// binaries may share two cores.
const startGuard = 8 * time.Minute

// Server is one running Prism.
type Server struct {
	// URL is where Prism listens, e.g. http://127.0.0.1:41234, with no path:
	// Prism serves the description's paths without its servers' base path.
	URL string
	// File is the description served.
	File string
	// Startup is how long Prism took from start to listening.
	Startup time.Duration

	cmd    *exec.Cmd
	exited chan error
	log    *logBuffer
}

// Log is what Prism printed so far.
func (s *Server) Log() string { return s.log.String() }

// Pool starts one Server per description file, on first use, and shares it.
type Pool struct {
	// Prism is the prism executable.
	Prism string

	mu      sync.Mutex
	entries map[string]*entry
	closed  bool
	dir     string // merged descriptions
}

type entry struct {
	once sync.Once
	srv  *Server
	err  error
}

// NewPool returns a pool running the given prism executable.
func NewPool(prism string) *Pool {
	return &Pool{Prism: prism, entries: map[string]*entry{}}
}

// Description is what one Prism serves: a vendor's description files
// (absolute paths), several served as their merge (see Merge), and
// optionally only the paths under Paths (see Subset).
type Description struct {
	Files []string
	Paths []string
}

func (d Description) key() string {
	return strings.Join(d.Files, "\x00") + "\x01" + strings.Join(d.Paths, "\x00")
}

// Get returns the Prism serving d, starting it the first time; every later
// call, from any goroutine, gets the same one (or the same start-up
// error).
func (p *Pool) Get(d Description) (*Server, error) {
	if len(d.Files) == 0 {
		return nil, errors.New("prismtest: no API description given")
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("prismtest: the pool is closed")
	}
	e := p.entries[d.key()]
	if e == nil {
		e = &entry{}
		p.entries[d.key()] = e
	}
	p.mu.Unlock()
	e.once.Do(func() {
		file := d.Files[0]
		if len(d.Files) > 1 || len(d.Paths) > 0 {
			if file, e.err = p.prepared(d); e.err != nil {
				return
			}
		}
		e.srv, e.err = p.start(file)
		if e.srv != nil {
			e.srv.File = strings.Join(d.Files, " + ")
			if len(d.Paths) > 0 {
				e.srv.File += " (paths " + strings.Join(d.Paths, ", ") + ")"
			}
		}
	})
	return e.srv, e.err
}

// prepared writes the merge of d's files, cut to its paths, into the
// pool's directory.
func (p *Pool) prepared(d Description) (string, error) {
	doc, err := Merge(d.Files...)
	if err != nil {
		return "", err
	}
	if len(d.Paths) > 0 {
		if doc, err = Subset(doc, d.Paths); err != nil {
			return "", err
		}
	}
	p.mu.Lock()
	if p.dir == "" {
		p.dir, err = os.MkdirTemp("", "prismtest-")
	}
	dir := p.dir
	p.mu.Unlock()
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "merged-*.json")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(doc); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}

// Servers are the Prisms started so far, in no order.
func (p *Pool) Servers() []*Server {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*Server
	for _, e := range p.entries {
		if e.srv != nil {
			out = append(out, e.srv)
		}
	}
	return out
}

// Close stops every Prism of the pool and waits for each to exit.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	entries := p.entries
	p.mu.Unlock()
	for _, e := range entries {
		e.once.Do(func() {}) // a start under way finishes first
		if e.srv != nil {
			e.srv.stop()
		}
	}
	if p.dir != "" {
		_ = os.RemoveAll(p.dir)
	}
}

var listeningLine = regexp.MustCompile(`Prism is listening on (http://\S+)`)

func (p *Pool) start(file string) (*Server, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("prismtest: the API description: %w", err)
	}
	// Prism takes a port, not 0: ask the system for a free one, and try
	// again should another process take it first.
	var errs []error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		srv, err := p.startOn(file, port)
		if err == nil {
			return srv, nil
		}
		errs = append(errs, err)
		if !strings.Contains(err.Error(), "EADDRINUSE") {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (p *Pool) startOn(file string, port int) (*Server, error) {
	began := time.Now()
	cmd := exec.Command(p.Prism, "mock", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--errors", "--seed", "membrane", file)
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "FORCE_COLOR=0")
	killWithParent(cmd)
	log := &logBuffer{ready: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("prismtest: start %s: %w", p.Prism, err)
	}
	srv := &Server{File: file, cmd: cmd, exited: make(chan error, 1), log: log}
	go func() { srv.exited <- cmd.Wait() }()
	guard := time.NewTimer(startGuard)
	defer guard.Stop()
	select {
	case u := <-log.ready:
		srv.URL = strings.TrimRight(u, "/")
		srv.Startup = time.Since(began)
		return srv, nil
	case err := <-srv.exited:
		srv.exited <- err
		return nil, fmt.Errorf("prismtest: prism exited before listening (%v) serving %s:\n%s", err, file, log)
	case <-guard.C:
		srv.stop()
		return nil, fmt.Errorf("prismtest: prism did not say it listens within %v serving %s:\n%s", startGuard, file, log)
	}
}

func (s *Server) stop() {
	_ = s.cmd.Process.Kill()
	err := <-s.exited
	s.exited <- err
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("prismtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logBuffer keeps what Prism prints and reports, once, the URL it listens
// at.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan string
	found bool
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.found {
		if m := listeningLine.FindSubmatch(l.buf.Bytes()); m != nil {
			l.found = true
			l.ready <- string(m[1])
		}
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Binary finds the prism executable that connectors/testdata/prism/install.sh
// installs, from the module root (the directory holding go.mod at or above
// the working directory).
func Binary() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "connectors", "testdata", "prism", "node_modules", ".bin", "prism")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("prism is not installed at %s; run scripts/install-test-deps.sh (or connectors/testdata/prism/install.sh)", p)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", errors.New("node is not on PATH; Prism needs it")
	}
	return p, nil
}

// ModuleRoot is the directory holding go.mod at or above the working
// directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("prismtest: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// APIs is the directory of the vendors' API descriptions: ../shared/apis
// from the module root, or shared/apis beside a directory further up (a
// git worktree of the repository, one level deeper).
func APIs() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "shared", "apis")
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			return p, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("prismtest: no shared/apis beside %s or a directory above it: the vendors' API descriptions belong at ../shared/apis from the repository", root)
		}
	}
}

// Violation is one way a request or a response breaks the description, as
// Prism reports it.
type Violation struct {
	Location []string `json:"location"`
	Severity string   `json:"severity"`
	Code     any      `json:"code"`
	Message  string   `json:"message"`
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s (%s)", strings.Join(v.Location, "."), v.Message, v.Severity)
}

// Rejection says why Prism refused a request, or "" when the answer is the
// description's own (an example or a generated value, of any status,
// including an error status a test asked for with a Prefer header).
//
// Prism refuses with a problem+json whose type is one of its own errors
// (https://stoplight.io/prism/errors#VIOLATIONS, #UNAUTHORIZED,
// #NO_PATH_MATCHED_ERROR, …); its violations are in the body's
// `validation` and in the sl-violations header. A response that breaks the
// description comes back as a 500 of the same kind, its violations located
// at "response": the description's example breaks its own schema.
func Rejection(status int, header http.Header, body string) string {
	var problem struct {
		Type       string      `json:"type"`
		Title      string      `json:"title"`
		Detail     string      `json:"detail"`
		Validation []Violation `json:"validation"`
	}
	isProblem := strings.HasPrefix(header.Get("Content-Type"), "application/problem+json") &&
		json.Unmarshal([]byte(body), &problem) == nil &&
		strings.HasPrefix(problem.Type, "https://stoplight.io/prism/errors#")
	var vs []Violation
	if h := header.Get("sl-violations"); h != "" {
		_ = json.Unmarshal([]byte(h), &vs)
	}
	if len(vs) == 0 {
		vs = problem.Validation
	}
	var errs []Violation
	for _, v := range vs {
		if strings.EqualFold(v.Severity, "error") {
			errs = append(errs, v)
		}
	}
	if !isProblem && len(errs) == 0 {
		return ""
	}
	var b strings.Builder
	if isProblem {
		fmt.Fprintf(&b, "%d %s (%s): %s", status, problem.Title, strings.TrimPrefix(problem.Type, "https://stoplight.io/prism/errors#"), problem.Detail)
	} else {
		fmt.Fprintf(&b, "%d with violations", status)
	}
	for _, v := range errs {
		b.WriteString("\n  - " + v.String())
	}
	return b.String()
}
