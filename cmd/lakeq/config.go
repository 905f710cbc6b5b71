package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// configFileName is the client configuration file in the home directory.
const configFileName = ".lakeq.yaml"

// fileConfig is the client configuration file's content.
type fileConfig struct {
	Endpoint    string `yaml:"endpoint,omitempty"`
	Credentials struct {
		AccessKeyID     string `yaml:"access_key_id,omitempty"`
		SecretAccessKey string `yaml:"secret_access_key,omitempty"`
	} `yaml:"credentials,omitempty"`
}

// defaultConfigPath is ~/.lakeq.yaml, or "" when there is no home
// directory.
func defaultConfigPath() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, configFileName)
}

// readConfigFile reads path; a missing file is an empty configuration.
func readConfigFile(path string) (fileConfig, error) {
	var c fileConfig
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("config file: %w", err)
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// writeConfigFile writes c to path, readable by its owner only (it holds a
// secret), replacing the file atomically.
func writeConfigFile(path string, c fileConfig) error {
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".lakeq-*.yaml")
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("config file: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("config file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	return nil
}

// applyConfigFile fills the client settings that neither a flag nor the
// environment gave from the configuration file.
func (g *globals) applyConfigFile(cmd *cobra.Command) error {
	c, err := readConfigFile(g.configPath)
	if err != nil {
		return err
	}
	fill := func(flag string, dst *string, v string) {
		if f := cmd.Flags().Lookup(flag); f != nil && !f.Changed && v != "" {
			*dst = v
		}
	}
	fill("endpoint", &g.endpoint, c.Endpoint)
	fill("access-key-id", &g.accessKeyID, c.Credentials.AccessKeyID)
	fill("secret-access-key", &g.secretAccessKey, c.Credentials.SecretAccessKey)
	return nil
}

// newConfigCmd builds `lakeq config`.
func newConfigCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Save the endpoint and credentials to the client configuration file",
		Long: `Save the endpoint and credentials given by flags or environment variables
(merged over what the file already holds) to the configuration file
(--config, default ~/.lakeq.yaml), readable by its owner only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.configPath == "" {
				return errors.New("no configuration file path: set --config")
			}
			c, err := readConfigFile(g.configPath)
			if err != nil {
				return err
			}
			if g.endpoint != "" {
				c.Endpoint = g.endpoint
			}
			if g.accessKeyID != "" {
				c.Credentials.AccessKeyID = g.accessKeyID
			}
			if g.secretAccessKey != "" {
				c.Credentials.SecretAccessKey = g.secretAccessKey
			}
			if err := writeConfigFile(g.configPath, c); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s\n", g.configPath)
			return nil
		},
	}
}
