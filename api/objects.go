package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/block"
)

const (
	// defaultContentType is an object's type when its writer gave none.
	defaultContentType = "application/octet-stream"
	// maxDeletePaths bounds one delete-objects request, as in lakeFS.
	maxDeletePaths = 1000
)

// inlineContentTypes are shown inline by browsers; every other type is
// served as an attachment, as lakeFS does.
var inlineContentTypes = map[string]bool{
	"image/jpeg": true, "image/jpg": true, "image/png": true, "image/gif": true,
	"image/webp": true, "image/svg+xml": true, "application/pdf": true,
	"text/plain": true, "text/markdown": true, "text/x-markdown": true,
	"text/html": true, "text/css": true, "text/javascript": true,
	"application/javascript": true, "application/json": true,
}

// objectStats is lakeFS's ObjectStats schema.
type objectStats struct {
	Path                  string             `json:"path"`
	PathType              string             `json:"path_type"`
	PhysicalAddress       string             `json:"physical_address"`
	PhysicalAddressExpiry *int64             `json:"physical_address_expiry,omitempty"`
	Checksum              string             `json:"checksum"`
	SizeBytes             *int64             `json:"size_bytes,omitempty"`
	Mtime                 int64              `json:"mtime"`
	Metadata              *map[string]string `json:"metadata,omitempty"` // a pointer, so that {} is sent
	ContentType           *string            `json:"content_type,omitempty"`
}

// newObjectStats describes e, whose repository writes to namespace.
// withMetadata adds the user metadata ({} when there is none).
func newObjectStats(namespace string, e *store.Entry, withMetadata bool) objectStats {
	size := e.Size
	ct := contentTypeOrDefault(e.ContentType)
	st := objectStats{
		Path:            e.Path,
		PathType:        pathTypeObject,
		PhysicalAddress: physicalAddress(namespace, e),
		Checksum:        e.ETag,
		SizeBytes:       &size,
		Mtime:           e.MTime.Unix(),
		ContentType:     &ct,
	}
	if withMetadata {
		md := e.Metadata
		if md == nil {
			md = map[string]string{}
		}
		st.Metadata = &md
	}
	return st
}

// physicalAddress returns where e's bytes live as a URI.
func physicalAddress(namespace string, e *store.Entry) string {
	if e.AddressType == store.AddressFull {
		return e.Address
	}
	return strings.TrimSuffix(namespace, "/") + "/" + e.Address
}

func contentTypeOrDefault(ct string) string {
	if ct == "" {
		return defaultContentType
	}
	return ct
}

// objectRef reads the repository, ref and path of an object read.
func objectRef(c *fiber.Ctx) (store.RepoID, store.Ref, string, error) {
	repo, err := param(c, "repository")
	if err != nil {
		return "", "", "", err
	}
	ref, err := param(c, "ref")
	if err != nil {
		return "", "", "", err
	}
	path, err := requiredQuery(c, "path")
	if err != nil {
		return "", "", "", err
	}
	return store.RepoID(repo), store.Ref(ref), path, nil
}

// setObjectHeaders sets the headers every object read answers with.
func setObjectHeaders(c *fiber.Ctx, e *store.Entry) {
	ct := contentTypeOrDefault(e.ContentType)
	c.Set(fiber.HeaderETag, etag(e.ETag))
	c.Set(fiber.HeaderLastModified, e.MTime.UTC().Format(http.TimeFormat))
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	c.Set(fiber.HeaderCacheControl, "no-store, must-revalidate")
	c.Set(fiber.HeaderExpires, "0")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	disposition := "attachment"
	if inlineContentTypes[ct] {
		disposition = "inline"
	}
	c.Set(fiber.HeaderContentDisposition, disposition)
}

// etag quotes a checksum for the ETag header.
func etag(checksum string) string {
	if strings.HasPrefix(checksum, `"`) {
		return checksum
	}
	return `"` + checksum + `"`
}

// getObject streams an object's bytes (200), or a byte range of them
// (206), or redirects to a presigned URL (302) with presign=true.
func (s *Server) getObject(c *fiber.Ctx) error {
	repo, ref, path, err := objectRef(c)
	if err != nil {
		return err
	}
	presign, err := queryBool(c, "presign", false)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if presign {
		url, err := s.graph.PresignGet(ctx, repo, ref, path, s.cfg.PresignExpiry)
		if err != nil {
			return err
		}
		return c.Redirect(url, http.StatusFound)
	}
	e, err := s.graph.StatObject(ctx, repo, ref, path)
	if err != nil {
		return err
	}
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && inm == etag(e.ETag) {
		return c.SendStatus(http.StatusNotModified)
	}
	var rng *byteRange
	if spec := c.Get(fiber.HeaderRange); spec != "" {
		r, err := parseRange(spec, e.Size)
		if err != nil {
			if errors.Is(err, errUnsatisfiableRange) {
				c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes */%d", e.Size))
			}
			return err
		}
		rng = &r
	}
	var blockRange *block.Range
	if rng != nil {
		blockRange = &block.Range{Offset: rng.start, Length: rng.length()}
	}
	rc, e, err := s.graph.ReadObject(ctx, repo, ref, path, blockRange)
	if err != nil {
		return err
	}
	setObjectHeaders(c, e)
	length := e.Size
	if rng != nil {
		length = rng.length()
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", rng.start, rng.end, e.Size))
		c.Status(http.StatusPartialContent)
	}
	// fasthttp writes the body after the handler returns and closes rc.
	c.Context().SetBodyStream(rc, int(length))
	return nil
}

// headObject answers like getObject without a body.
func (s *Server) headObject(c *fiber.Ctx) error {
	repo, ref, path, err := objectRef(c)
	if err != nil {
		return err
	}
	e, err := s.graph.StatObject(c.UserContext(), repo, ref, path)
	if err != nil {
		return err
	}
	setObjectHeaders(c, e)
	length := e.Size
	if spec := c.Get(fiber.HeaderRange); spec != "" {
		r, err := parseRange(spec, e.Size)
		if err != nil {
			return err
		}
		length = r.length()
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", r.start, r.end, e.Size))
		c.Status(http.StatusPartialContent)
	}
	c.Response().Header.SetContentLength(int(length))
	c.Response().SkipBody = true
	return nil
}

// statObject returns an object's ObjectStats; with presign=true its
// physical_address is a presigned URL.
func (s *Server) statObject(c *fiber.Ctx) error {
	repo, ref, path, err := objectRef(c)
	if err != nil {
		return err
	}
	withMetadata, err := queryBool(c, "user_metadata", true)
	if err != nil {
		return err
	}
	presign, err := queryBool(c, "presign", false)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	r, err := s.graph.GetRepository(ctx, repo)
	if err != nil {
		return err
	}
	e, err := s.graph.StatObject(ctx, repo, ref, path)
	if err != nil {
		return err
	}
	st := newObjectStats(r.StorageNamespace, e, true)
	if !withMetadata {
		st.Metadata = &map[string]string{}
	}
	if presign {
		if err := s.presign(c, &st, repo, ref); err != nil {
			return err
		}
	}
	return c.JSON(st)
}

// presign replaces st's physical address with a presigned URL.
func (s *Server) presign(c *fiber.Ctx, st *objectStats, repo store.RepoID, ref store.Ref) error {
	url, err := s.graph.PresignGet(c.UserContext(), repo, ref, st.Path, s.cfg.PresignExpiry)
	if err != nil {
		return err
	}
	expiry := time.Now().Add(s.cfg.PresignExpiry).Unix()
	st.PhysicalAddress, st.PhysicalAddressExpiry = url, &expiry
	return nil
}

// listObjects lists the objects under a prefix, folding deeper paths into
// common prefixes when a delimiter is given.
func (s *Server) listObjects(c *fiber.Ctx) error {
	repo, err := param(c, "repository")
	if err != nil {
		return err
	}
	ref, err := param(c, "ref")
	if err != nil {
		return err
	}
	p, err := parsePage(c)
	if err != nil {
		return err
	}
	withMetadata, err := queryBool(c, "user_metadata", true)
	if err != nil {
		return err
	}
	presign, err := queryBool(c, "presign", false)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	r, err := s.graph.GetRepository(ctx, store.RepoID(repo))
	if err != nil {
		return err
	}
	items, hasMore, err := s.graph.ListObjects(ctx, store.RepoID(repo), store.Ref(ref), p.listOptions())
	if err != nil {
		return err
	}
	out := make([]objectStats, 0, len(items))
	for _, it := range items {
		if it.IsPrefix || it.Entry == nil {
			out = append(out, objectStats{Path: it.Path, PathType: pathTypeCommonPrefix})
			continue
		}
		st := newObjectStats(r.StorageNamespace, it.Entry, false)
		if withMetadata && len(it.Entry.Metadata) > 0 {
			md := it.Entry.Metadata
			st.Metadata = &md
		}
		if presign {
			if err := s.presign(c, &st, store.RepoID(repo), store.Ref(ref)); err != nil {
				return err
			}
		}
		out = append(out, st)
	}
	return c.JSON(newList(out, hasMore, func(o objectStats) string { return o.Path }))
}

// deleteObject deletes an object from a branch (204). A missing object is
// not an error, as in lakeFS; a missing repository or branch is (404).
func (s *Server) deleteObject(c *fiber.Ctx) error {
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	path, err := requiredQuery(c, "path")
	if err != nil {
		return err
	}
	if _, err := queryBool(c, "force", false); err != nil {
		return err
	}
	if _, err := queryBool(c, "no_tombstone", false); err != nil {
		return err
	}
	err = s.graph.DeleteObject(c.UserContext(), repo, branch, path)
	if err != nil && !errors.Is(err, store.ErrObjectNotFound) {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// pathList is lakeFS's PathList schema.
type pathList struct {
	Paths []string `json:"paths"`
}

// objectError is lakeFS's ObjectError schema.
type objectError struct {
	StatusCode int    `json:"status_code"`
	Message    string `json:"message"`
	Path       string `json:"path,omitempty"`
}

// deleteObjects deletes up to 1,000 objects from a branch and answers 200
// with the paths it could not delete; missing objects are not errors.
func (s *Server) deleteObjects(c *fiber.Ctx) error {
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	if _, err := queryBool(c, "force", false); err != nil {
		return err
	}
	var req pathList
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if req.Paths == nil {
		return badRequest("missing paths")
	}
	if len(req.Paths) > maxDeletePaths {
		return badRequest("%d paths, over the limit of %d", len(req.Paths), maxDeletePaths)
	}
	perrs, err := s.graph.DeleteObjects(c.UserContext(), repo, branch, req.Paths)
	if err != nil {
		return err
	}
	out := make([]objectError, 0, len(perrs))
	for _, pe := range perrs {
		status := statusOf(pe.Err)
		msg := pe.Err.Error()
		if status >= http.StatusInternalServerError {
			s.log.ErrorContext(c.UserContext(), "delete object failed",
				"request_id", requestID(c), "path", pe.Path, "error", pe.Err)
			msg = http.StatusText(status)
		}
		out = append(out, objectError{StatusCode: status, Message: msg, Path: pe.Path})
	}
	return c.JSON(fiber.Map{"errors": out})
}
