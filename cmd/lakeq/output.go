package main

import (
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strings"
	"text/tabwriter"
	"time"
)

// printer writes a command's results as a human table or as JSON.
type printer struct {
	w    io.Writer
	json bool
}

// newPrinter returns a printer for the --output format.
func newPrinter(w io.Writer, format string) *printer {
	return &printer{w: w, json: format == outputJSON}
}

// object prints one result: as indented JSON, or through human.
func (p *printer) object(v any, human func(w io.Writer)) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	human(tw)
	return tw.Flush()
}

// list prints a sequence as it arrives: a JSON array, or a table with the
// given header whose rows row formats (tab-separated cells). Rows are
// flushed in batches so that a long listing streams.
func list[T any](p *printer, seq iter.Seq2[T, error], header []string, row func(T) []string) error {
	if p.json {
		return jsonArray(p.w, seq)
	}
	const flushEvery = 500
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	if len(header) > 0 {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	n := 0
	for item, err := range seq {
		if err != nil {
			_ = tw.Flush()
			return err
		}
		fmt.Fprintln(tw, strings.Join(row(item), "\t"))
		if n++; n%flushEvery == 0 {
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	return tw.Flush()
}

// jsonArray writes seq as one JSON array, an element at a time.
func jsonArray[T any](w io.Writer, seq iter.Seq2[T, error]) error {
	if _, err := io.WriteString(w, "["); err != nil {
		return err
	}
	sep := "\n  "
	for item, err := range seq {
		if err != nil {
			fmt.Fprintln(w, "\n]")
			return err
		}
		b, err := json.Marshal(item)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s%s", sep, b); err != nil {
			return err
		}
		sep = ",\n  "
	}
	if sep == "\n  " {
		_, err := io.WriteString(w, "]\n")
		return err
	}
	_, err := io.WriteString(w, "\n]\n")
	return err
}

// formatTime prints Unix seconds as local time, or "-" for 0.
func formatTime(unix int64) string {
	if unix == 0 {
		return "-"
	}
	return time.Unix(unix, 0).Local().Format("2006-01-02 15:04:05 MST")
}

// formatSize prints a byte count in the largest unit that keeps it >= 1.
func formatSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
