package api

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/lakeq/lakeq/store"
	"github.com/lakeq/lakeq/store/graph"
)

const (
	// metadataHeaderPrefix starts the request headers that carry user
	// metadata on upload, as in lakeFS.
	metadataHeaderPrefix = "x-lakefs-meta-"
	// uploadFormField is the multipart field that holds an upload's bytes.
	uploadFormField = "content"
)

// uploadObject writes an object to a branch (201 with its stats). The body
// is either multipart/form-data with the bytes in the field "content", or
// the raw bytes. Headers X-Lakefs-Meta-<key> set user metadata; If-None-Match: *
// refuses to replace an existing object (412).
func (s *Server) uploadObject(c *fiber.Ctx) error {
	repo, branch, err := repoBranch(c)
	if err != nil {
		return err
	}
	path, err := requiredQuery(c, "path")
	if err != nil {
		return err
	}
	if err := store.ValidatePath(path); err != nil {
		return err
	}
	if _, err := queryBool(c, "force", false); err != nil {
		return err
	}
	ctx := c.UserContext()
	r, err := s.graph.GetRepository(ctx, repo)
	if err != nil {
		return err
	}
	// Fail before reading a large body when the branch is missing.
	if _, err := s.graph.GetBranch(ctx, repo, branch); err != nil {
		return err
	}
	if c.Get(fiber.HeaderIfMatch) != "" {
		return unsupported("If-Match on upload")
	}
	switch inm := c.Get(fiber.HeaderIfNoneMatch); inm {
	case "":
	case "*":
		_, err := s.graph.StatObject(ctx, repo, store.Ref(branch), path)
		if err == nil {
			return newStatusError(http.StatusPreconditionFailed, "path already exists")
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	default:
		return unsupported("If-None-Match other than '*'")
	}
	opts := graph.WriteOptions{Metadata: uploadMetadata(c)}

	body := bodyReader(c, int64(s.cfg.BodyLimit))
	size := int64(c.Request().Header.ContentLength())
	if size < 0 {
		size = -1
	}
	mediaType, params, err := mime.ParseMediaType(string(c.Request().Header.ContentType()))
	if err != nil {
		mediaType = ""
	}
	var content io.Reader
	if mediaType == fiber.MIMEMultipartForm {
		boundary := params["boundary"]
		if boundary == "" {
			return badRequest("multipart upload without a boundary")
		}
		part, err := findFormPart(multipart.NewReader(body, boundary), uploadFormField)
		if err != nil {
			return err
		}
		defer part.Close()
		content = &clientReader{r: part}
		opts.ContentType = contentTypeOrDefault(part.Header.Get(fiber.HeaderContentType))
		size = -1
	} else {
		content = body
		opts.ContentType = contentTypeOrDefault(string(c.Request().Header.ContentType()))
	}
	e, err := s.graph.WriteObject(ctx, repo, branch, path, content, size, opts)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(newObjectStats(r.StorageNamespace, e, true))
}

// findFormPart returns the first part of a multipart body named field.
func findFormPart(mr *multipart.Reader, field string) (*multipart.Part, error) {
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, badRequest("multipart upload has no %q part", field)
		}
		if err != nil {
			if isBodyTooLarge(err) {
				return nil, err
			}
			return nil, badRequest("malformed multipart body: %v", err)
		}
		if part.FormName() == field {
			return part, nil
		}
		_ = part.Close()
	}
}

// uploadMetadata collects the X-Lakefs-Meta-* request headers.
func uploadMetadata(c *fiber.Ctx) map[string]string {
	var md map[string]string
	c.Request().Header.VisitAll(func(k, v []byte) {
		key := strings.ToLower(string(k))
		if name, ok := strings.CutPrefix(key, metadataHeaderPrefix); ok && name != "" {
			if md == nil {
				md = map[string]string{}
			}
			md[name] = string(v)
		}
	})
	return md
}

// clientReader marks read errors of a request body as the client's fault
// (400), so that a truncated or malformed upload is not reported as a
// server error.
type clientReader struct {
	r io.Reader
}

func (r *clientReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && !isBodyTooLarge(err) {
		err = &statusError{status: http.StatusBadRequest, msg: "read request body: " + err.Error()}
	}
	return n, err
}
