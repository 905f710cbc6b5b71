package miniotest_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/block/s3/miniotest"
)

func TestStartStop(t *testing.T) {
	srv := miniotest.Start(t)
	st := srv.NewStore(t)
	ctx := context.Background()
	if ok, err := st.BucketExists(ctx, "later"); err != nil || ok {
		t.Fatalf("BucketExists before MakeBucket = %v, %v", ok, err)
	}
	srv.MakeBucket(t, "later")
	srv.MakeBucket(t, "later") // idempotent
	if ok, err := st.BucketExists(ctx, "later"); err != nil || !ok {
		t.Fatalf("BucketExists after MakeBucket = %v, %v", ok, err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	if resp, err := client.Get("http://" + srv.Endpoint + "/minio/health/live"); err == nil {
		resp.Body.Close()
		t.Fatal("server still answers after Stop")
	}
}

func TestBinaryFromEnv(t *testing.T) {
	t.Setenv("LAKEQ_MINIO_BIN", t.TempDir()+"/no-such-minio")
	if _, err := miniotest.Binary(); !errors.Is(err, miniotest.ErrNoBinary) {
		t.Fatalf("Binary with a bad LAKEQ_MINIO_BIN = %v, want ErrNoBinary", err)
	}
}
