package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lakeq/lakeq/cmd/lakeq/internal/client"
)

// parseMeta turns repeated key=value flags into a map.
func parseMeta(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--meta %q: want key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

// newCommitCmd builds `lakeq commit`.
func newCommitCmd(g *globals) *cobra.Command {
	var (
		message    string
		meta       []string
		allowEmpty bool
	)
	cmd := &cobra.Command{
		Use:     "commit lakeq://REPOSITORY/BRANCH -m MESSAGE",
		Short:   "Commit a branch's uncommitted changes",
		Example: `  lakeq commit lakeq://example/main -m "add raw data" --meta source=crm`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRef)
			if err != nil {
				return err
			}
			md, err := parseMeta(meta)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			cm, err := c.Commit(cmd.Context(), string(u.Repo), string(u.Ref), client.CommitCreation{
				Message: message, Metadata: md, AllowEmpty: allowEmpty,
			})
			if err != nil {
				return err
			}
			return newPrinter(cmd.OutOrStdout(), g.output).object(cm, func(w io.Writer) {
				fmt.Fprintf(w, "Committed %s\n", u)
				printCommit(w, *cm)
			})
		},
	}
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message (required)")
	cmd.Flags().StringArrayVar(&meta, "meta", nil, "commit metadata as key=value (repeatable)")
	cmd.Flags().BoolVar(&allowEmpty, "allow-empty", false, "commit even when nothing changed")
	_ = cmd.MarkFlagRequired("message")
	return cmd
}

// printCommit writes a commit as git log does.
func printCommit(w io.Writer, c client.Commit) {
	fmt.Fprintf(w, "commit %s\n", c.ID)
	if len(c.Parents) > 1 {
		fmt.Fprintf(w, "Merge: %s\n", strings.Join(shortIDs(c.Parents), " "))
	}
	if c.Committer != "" {
		fmt.Fprintf(w, "Author: %s\n", c.Committer)
	}
	fmt.Fprintf(w, "Date:   %s\n", formatTime(c.CreationDate))
	for k, v := range c.Metadata {
		fmt.Fprintf(w, "Meta:   %s = %s\n", k, v)
	}
	fmt.Fprintf(w, "\n    %s\n\n", strings.ReplaceAll(c.Message, "\n", "\n    "))
}

func shortIDs(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id[:min(len(id), 12)]
	}
	return out
}

// newLogCmd builds `lakeq log`.
func newLogCmd(g *globals) *cobra.Command {
	var (
		amount      int
		firstParent bool
	)
	cmd := &cobra.Command{
		Use:     "log lakeq://REPOSITORY/REF",
		Short:   "Show the commit history of a ref, newest first",
		Example: `  lakeq log lakeq://example/main --amount 10`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := parseURIArg(args[0], uriRef)
			if err != nil {
				return err
			}
			c, err := g.client(cmd)
			if err != nil {
				return err
			}
			seq := c.Log(cmd.Context(), string(u.Repo), string(u.Ref), client.LogOptions{FirstParent: firstParent, PageSize: min(max(amount, 0), 1000)})
			seq = limit(seq, amount)
			p := newPrinter(cmd.OutOrStdout(), g.output)
			if p.json {
				return jsonArray(p.w, seq)
			}
			for cm, err := range seq {
				if err != nil {
					return err
				}
				printCommit(p.w, cm)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&amount, "amount", 0, "show at most this many commits (0: all)")
	cmd.Flags().BoolVar(&firstParent, "first-parent", false, "follow only the first parent of merge commits")
	return cmd
}
