// Package broker is lakeq's NATS JetStream layer: it declares the three
// streams (LAKEQ_JOBS, LAKEQ_TASKS, LAKEQ_EVENTS), builds and validates their
// subjects, publishes jobs and tasks with de-duplication by id, runs the
// bounded pull-consume loop that workers plug their handlers into, and lets
// readers replay and follow job events.
//
// The broker executes a handler's Outcome (ack, nak with delay, term); it does
// not decide which errors are retryable — that mapping belongs to the worker
// runner.
//
// The sub-package natsserver runs an embedded nats-server with JetStream for
// `lakeq up` and for tests.
package broker
