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
func DumpDOM(ctx context.Context, browser, page, scratch string) (string, error) {
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
