// Package schemaform turns a JSON Schema's properties into accessible HTML
// form controls, reads a submitted form back into typed values, and places
// a service's violations on the fields they concern. The connect page (its
// parameters and credentials) and the console (an action's input) share it,
// with the one field template in FS ("field", "hint-error").
//
// A field's name is the JSON Pointer of its value ("/credentials/apiKey",
// "/input/email"), so violations reported by pointer land on their field.
// Secret fields (writeOnly, format password) are never echoed back.
package schemaform

import "embed"

// FS holds templates/field.html: parse it with the page templates that
// render fields (`{{template "field" .}}` on a *Field).
//
//go:embed templates/field.html
var FS embed.FS

// Template is FS's file name, for ParseFS.
const Template = "templates/field.html"
