// Package browser loads a page in headless Chromium and returns the DOM
// after the page's scripts ran, for tests that check that a generated
// HTML page renders: its pictures are laid out and its links resolve.
// The pages mark what their scripts found with attributes on <body>,
// which Attr reads back from the dump.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
)

// ErrNoChromium reports that no Chromium was found on PATH.
var ErrNoChromium = errors.New("no Chromium on PATH: install Debian's chromium package (apt-get install -y chromium)")

// Find returns the path of a headless-capable Chromium.
func Find() (string, error) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", ErrNoChromium
}

// DumpDOM loads the file page in the browser, lets its scripts run, and
// returns the DOM. scratch is an empty directory the browser may use for
// its profile and home.
//
// A browser that crashes (ends by a signal: on a loaded machine Chromium
// now and then does, whatever the page) is started again, up to
// crashRetries times, each with a fresh profile; any other failure is
// returned at once.
func DumpDOM(ctx context.Context, browser, page, scratch string) (string, error) {
	var err error
	for attempt := range crashRetries + 1 {
		profile := filepath.Join(scratch, fmt.Sprintf("profile-%d", attempt))
		if err := os.MkdirAll(profile, 0o700); err != nil {
			return "", err
		}
		var out string
		out, err = dumpDOM(ctx, browser, page, profile)
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) || ee.ExitCode() != -1 || ctx.Err() != nil {
			return out, err
		}
	}
	return "", fmt.Errorf("the browser crashed %d times: %w", crashRetries+1, err)
}

// crashRetries is how many times DumpDOM starts a crashed browser again.
const crashRetries = 2

func dumpDOM(ctx context.Context, browser, page, scratch string) (string, error) {
	cmd := exec.CommandContext(ctx, browser,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+scratch,
		"--virtual-time-budget=5000", "--dump-dom", "file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+scratch)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return "", err
	}
	return string(out), nil
}

// Attr returns the value of attribute name on the dump's <body>, and
// whether it is there.
func Attr(dom, name string) (string, bool) {
	body := regexp.MustCompile(`<body[^>]*>`).FindString(dom)
	m := regexp.MustCompile(`\s` + regexp.QuoteMeta(name) + `="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return "", false
	}
	return m[1], true
}
