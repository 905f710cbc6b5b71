package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lakeq/lakeq/store/block/s3/miniotest"
)

// TestS3Presign runs the object routes over a real MinIO: uploads go
// through the API, and presign=true hands out URLs that read the data
// straight from storage.
func TestS3Presign(t *testing.T) {
	srv := miniotest.Start(t)
	srv.MakeBucket(t, "lake")
	e := newEnvWith(t, options{s3: srv.NewStore(t)})

	var cfg struct {
		StorageConfig struct {
			BlockstoreType string `json:"blockstore_type"`
			PreSignSupport bool   `json:"pre_sign_support"`
			Regex          string `json:"blockstore_namespace_ValidityRegex"`
		} `json:"storage_config"`
	}
	e.get("/api/v1/config").json(t, &cfg)
	if cfg.StorageConfig.BlockstoreType != "s3" || cfg.StorageConfig.PreSignSupport || cfg.StorageConfig.Regex != "^(s3|local)://" {
		t.Fatalf("storage config %+v", cfg.StorageConfig)
	}

	r := e.postJSON("/api/v1/repositories", map[string]any{"name": "repo1", "storage_namespace": "s3://lake/repos/repo1"})
	expect(t, r, http.StatusCreated)
	expectError(t, e.postJSON("/api/v1/repositories", map[string]any{"name": "repo2", "storage_namespace": "s3://no-such-bucket/x"}), http.StatusBadRequest)

	up := e.uploadMultipart("repo1", "main", "dir/data.csv", "a,b\n1,2\n", "text/csv")
	expect(t, up, http.StatusCreated)
	var st objectJSON
	up.json(t, &st)
	if !strings.HasPrefix(st.PhysicalAddress, "s3://lake/repos/repo1/data/") {
		t.Fatalf("physical address %q", st.PhysicalAddress)
	}
	expect(t, e.get(objectsPath+"?path=dir/data.csv"), http.StatusOK)

	fetch := func(url string) string {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET presigned URL: %v", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET presigned URL: %d %s", res.StatusCode, b)
		}
		return string(b)
	}

	r = e.get(objectsPath + "?path=dir/data.csv&presign=true")
	expect(t, r, http.StatusFound)
	if got := fetch(r.header.Get("Location")); got != "a,b\n1,2\n" {
		t.Fatalf("presigned read %q", got)
	}

	st = objectJSON{}
	e.get(objectsPath+"/stat?path=dir/data.csv&presign=true").json(t, &st)
	if !strings.HasPrefix(st.PhysicalAddress, "http://") || st.PhysicalAddressExpiry == nil ||
		*st.PhysicalAddressExpiry < time.Now().Unix() {
		t.Fatalf("presigned stat %+v", st)
	}
	if got := fetch(st.PhysicalAddress); got != "a,b\n1,2\n" {
		t.Fatalf("presigned stat read %q", got)
	}

	var l objectList
	e.get(objectsPath+"/ls?presign=true").json(t, &l)
	if len(l.Results) != 1 || !strings.HasPrefix(l.Results[0].PhysicalAddress, "http://") || l.Results[0].PhysicalAddressExpiry == nil {
		t.Fatalf("presigned listing %+v", l.Results)
	}

	// The object survives a commit and reads back at the commit.
	c := e.commit("repo1", "main", "csv")
	got := e.get("/api/v1/repositories/repo1/refs/" + c + "/objects?path=dir/data.csv")
	if string(got.body) != "a,b\n1,2\n" {
		t.Fatalf("read at commit %q", got.body)
	}
	expectError(t, e.get(objectsPath+"?path=missing&presign=true"), http.StatusNotFound)
}
