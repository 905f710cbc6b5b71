package api

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// OpenAPISpec is the OpenAPI 3 description of the API, served at
// /api/v1/openapi.yaml. A test checks that it and the registered routes
// name the same operations.
//
//go:embed openapi.yaml
var OpenAPISpec []byte

// openAPI serves OpenAPISpec.
func (s *Server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(OpenAPISpec)
}
