// Package expr compiles and evaluates the templates of spec files: text with
// CEL expressions inside `${ … }`.
//
// A template that is exactly one `${ … }` yields the expression's typed
// value (a number, a list, a map, null); any other template is text, with
// each expression's value written into it. `$${` writes a literal `${`.
//
// Everything that can be known before a request is known when a file
// loads: Parse splits a template, NewEnv declares the variables of one
// place (`input`, `response`, …) with types derived from JSON Schemas by
// FromSchema, and Env.Compile type-checks every expression, so that
// `input.emial` is an error at `membrane validate`, not in production.
// Compiled templates are cached per environment and source, since many
// files share expressions.
//
// At request time Template.Eval runs the prepared CEL programs on plain Go
// values (decoded JSON, best passed through Normalize first) and returns
// plain Go values ready for JSON. Every evaluation is bounded by CostLimit.
//
// Two choices shape what expressions may say:
//
//   - Declared scalars, lists and maps are nullable, as JSON values are:
//     `input.name == null`, `c ? input.name : null` and
//     `input.?name.orValue(null)` type-check. JSON null also counts as
//     absent for has() and `.?`.
//   - An object type (a schema with properties) knows its fields: selecting
//     one it does not declare is a compile error, and selecting a declared
//     one that the value lacks is a run-time error naming it. Use `.?name`
//     or has() for optional fields. To CEL's checker an object is not a
//     map: `c ? input.address : {}` needs `dyn(input.address)`.
package expr
