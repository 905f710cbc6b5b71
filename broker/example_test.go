package broker_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/lakeq/lakeq/broker"
	"github.com/lakeq/lakeq/broker/natsserver"
)

// A job goes from PublishJob to a worker's Handler, whose Outcome acks it.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lakeq-broker-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	srv, err := natsserver.New(natsserver.Config{Port: natsserver.RandomPort, StoreDir: dir})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(ctx); err != nil {
		panic(err)
	}
	defer srv.Stop(ctx)

	quiet := slog.New(slog.DiscardHandler)
	b, err := broker.Connect(ctx, broker.Config{URL: srv.ClientURL(), Logger: quiet})
	if err != nil {
		panic(err)
	}
	defer b.Close(ctx)

	handled := make(chan string, 1)
	c, err := b.NewConsumer(broker.ConsumerConfig{
		Queue:       broker.Jobs,
		Kind:        "import",
		Concurrency: 4,
		Handler: func(ctx context.Context, m *broker.Msg) broker.Outcome {
			handled <- fmt.Sprintf("%s %s delivery %d", m.ID(), m.Data(), m.NumDelivered())
			return broker.Ack()
		},
	})
	if err != nil {
		panic(err)
	}
	if err := c.Start(ctx); err != nil {
		panic(err)
	}

	for range 2 { // a retried submission is stored once
		p, err := b.PublishJob(ctx, "import", "01JD8Z00000000000000000000", []byte(`{"repo":"demo"}`))
		if err != nil {
			panic(err)
		}
		fmt.Println("duplicate:", p.Duplicate)
	}
	fmt.Println(<-handled)
	if err := c.Stop(ctx); err != nil {
		panic(err)
	}
	// Output:
	// duplicate: false
	// duplicate: true
	// 01JD8Z00000000000000000000 {"repo":"demo"} delivery 1
}

func ExampleEventSubject() {
	s, err := broker.EventSubject("my-repo", "import", "01JD8Z00000000000000000000")
	fmt.Println(s, err)
	filter, err := broker.EventFilter("", "", "01JD8Z00000000000000000000")
	fmt.Println(filter, err)
	_, err = broker.EventSubject("my.repo", "import", "01JD8Z00000000000000000000")
	fmt.Println(err != nil)
	// Output:
	// lakeq.events.my-repo.import.01JD8Z00000000000000000000 <nil>
	// lakeq.events.*.*.01JD8Z00000000000000000000 <nil>
	// true
}

func ExampleJobSubject() {
	s, err := broker.JobSubject("import")
	fmt.Println(s, err)
	d, err := broker.Jobs.Durable("import")
	fmt.Println(d, err)
	// Output:
	// lakeq.jobs.import <nil>
	// jobs-import <nil>
}
