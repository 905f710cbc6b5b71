package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lakeq/lakeq/store/block/s3/miniotest"
	"github.com/lakeq/lakeq/store/kv/redis/redistest"
)

// TestAPIRole runs `lakeq api` as a process against a real Redis, MinIO and
// NATS: repositories on S3 work through the CLI, the admin credentials are
// created and printed once per Redis, and a second API process started
// later sees the same data without printing them again.
func TestAPIRole(t *testing.T) {
	rds := redistest.Start(t)
	minio := miniotest.Start(t)
	minio.MakeBucket(t, "lakeq")
	nats := startNATS(t)

	env := testEnv(t,
		"LAKEQ_LISTEN=127.0.0.1:0",
		"LAKEQ_REDIS_URL="+rds.URL(),
		"LAKEQ_REDIS_KEY_PREFIX="+rds.NewKeyPrefix(),
		"LAKEQ_S3_ENDPOINT="+minio.Endpoint,
		"LAKEQ_S3_ACCESS_KEY_ID="+minio.AccessKey,
		"LAKEQ_S3_SECRET_ACCESS_KEY="+minio.SecretKey,
		"LAKEQ_S3_PATH_STYLE=true",
		"LAKEQ_NATS_URL="+nats.ClientURL(),
	)
	apiCmd := []string{serverBinary(t), "api"}
	first := startServer(t, t.TempDir(), env, apiCmd...)
	out := first.stdout.String()
	keyID, secret := bannerKeyID.FindStringSubmatch(out), bannerSecret.FindStringSubmatch(out)
	if keyID == nil || secret == nil {
		t.Fatalf("the first start printed no credentials:\n%s", out)
	}
	client := func(endpoint string) []string {
		return testEnv(t, "LAKEQ_ENDPOINT="+endpoint, "LAKEQ_ACCESS_KEY_ID="+keyID[1], "LAKEQ_SECRET_ACCESS_KEY="+secret[1])
	}
	cl := client(first.endpoint)
	src := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(src, []byte("stored in MinIO\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	runLakeq(t, cl, "repo", "create", "lakeq://on-s3", "s3://lakeq/on-s3/")
	runLakeq(t, cl, "fs", "upload", "lakeq://on-s3/main/a.txt", "--source", src)
	runLakeq(t, cl, "commit", "lakeq://on-s3/main", "-m", "first on S3")
	if st := runLakeq(t, cl, "fs", "stat", "lakeq://on-s3/main/a.txt"); !strings.Contains(st, "16 bytes") {
		t.Fatalf("stat:\n%s", st)
	}

	// A second API process on the same Redis: no new credentials, same data.
	second := startServer(t, t.TempDir(), env, apiCmd...)
	if out := second.stdout.String(); bannerSecret.MatchString(out) || strings.Contains(out, secret[1]) {
		t.Fatalf("a second api process printed credentials:\n%s", out)
	}
	cl2 := client(second.endpoint)
	if got := runLakeq(t, cl2, "fs", "cat", "lakeq://on-s3/main/a.txt"); got != "stored in MinIO\n" {
		t.Fatalf("read through the second api process: %q", got)
	}
	if log := runLakeq(t, cl2, "log", "lakeq://on-s3/main"); !strings.Contains(log, "first on S3") {
		t.Fatalf("log through the second api process:\n%s", log)
	}
	for _, s := range []*server{first, second} {
		if strings.Contains(s.stderr.String(), secret[1]) {
			t.Fatal("the generated secret was logged")
		}
	}
	second.stop(t, syscall.SIGTERM)
	first.stop(t, syscall.SIGINT)
}
