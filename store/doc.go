// Package store holds lakeq's domain types — repository, branch, commit, tag
// and job identifiers, object entries — their validation rules and the error
// hierarchy every storage layer reports with.
//
// Sub-packages implement the parts: kv (metadata key-value contract, with
// Redis and embedded implementations), block (object storage contract, with
// S3 and local-filesystem implementations), tree (ranges and metaranges) and
// graph (repositories, refs, commits, staging, diff and merge).
package store
