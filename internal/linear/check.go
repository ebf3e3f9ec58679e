package linear

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/anishathalye/porcupine"
)

// Result is the outcome of Check.
type Result struct {
	Outcome porcupine.CheckResult
	// Visualization is the HTML file written for a history that is not
	// linearizable (or timed out), empty otherwise.
	Visualization string
}

// Check checks history against model, giving up after timeout (then the
// outcome is porcupine.Unknown). Unless the history is linearizable it
// writes porcupine's visualization into dir (created if needed; the system
// temporary directory when empty) under a name starting with name, and
// returns its path.
func Check(model porcupine.Model, history []porcupine.Operation, timeout time.Duration, dir, name string) (Result, error) {
	res, info := porcupine.CheckOperationsVerbose(model, history, timeout)
	r := Result{Outcome: res}
	if res == porcupine.Ok {
		return r, nil
	}
	path, err := Visualize(model, info, dir, name)
	r.Visualization = path
	return r, err
}

// Visualize writes porcupine's HTML visualization of info into dir (the
// system temporary directory when empty) and returns the file's path.
func Visualize(model porcupine.Model, info porcupine.LinearizationInfo, dir, name string) (string, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, name+"-*.html")
	if err != nil {
		return "", err
	}
	defer f.Close() //nolint:errcheck // a best-effort visualization for a failed check
	if err := porcupine.Visualize(model, info, f); err != nil {
		return "", fmt.Errorf("visualize: %w", err)
	}
	return filepath.Abs(f.Name())
}
