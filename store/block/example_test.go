package block_test

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/lakeq/lakeq/store/block"
	"github.com/lakeq/lakeq/store/block/local"
)

func ExampleParseURI() {
	ns := block.MustParseURI("s3://lake-data/repos/sales/")
	src, err := block.ParseURI("s3://lake-data/repos/sales/2024/01.parquet")
	if err != nil {
		panic(err)
	}
	fmt.Println(src.Bucket, src.Key)
	fmt.Println(ns.Contains(src), ns.Contains(block.MustParseURI("s3://lake-data/repos/sales-old/x")))
	fmt.Println(ns.Join("_lakeq/ranges/abc"))
	// Output:
	// lake-data repos/sales/2024/01.parquet
	// true false
	// s3://lake-data/repos/sales/_lakeq/ranges/abc
}

func ExampleResolver() {
	dir, _ := os.MkdirTemp("", "lakeq-example")
	defer os.RemoveAll(dir)
	r, _ := block.NewResolver(block.ResolverConfig{
		AllowedRoots: []string{dir},
		OpenLocal:    func(d string) (block.Store, error) { return local.New(d) },
	})
	defer r.Close()
	ctx := context.Background()
	t, err := r.Resolve(block.MustParseURI("local://" + dir + "/exports/report.csv"))
	if err != nil {
		panic(err)
	}
	if _, err := t.Store.Put(ctx, t.Bucket, t.Key, bytes.NewReader([]byte("a,b\n")), 4, block.PutOptions{ContentType: "text/csv"}); err != nil {
		panic(err)
	}
	it := block.ListAll(ctx, t.Store, "", block.ListOptions{Prefix: "exports/"})
	for it.Next() {
		fmt.Println(it.Item().Key, it.Item().Object.Size)
	}
	_, err = r.Resolve(block.MustParseURI("local:///etc/passwd"))
	fmt.Println(err != nil)
	// Output:
	// exports/report.csv 4
	// true
}
