// Package schema works with the JSON Schemas (draft 2020-12) written
// inline in spec files: the input and output of actions, the records of
// events, the parameters and credentials of connectors. (The schemas of
// the file kinds themselves are package schemas, at the module's root.)
//
// Compile checks a schema against the metaschema, reporting each problem
// at the keyword to fix, and compiles it into a Validator; CheckKeywords
// reports the keywords the draft does not define, which a validator would
// silently ignore; Extend gives the contract an implementation runs under
// (a universal schema it may add to, never loosen). Violations and Leaves
// read a Validator's error as JSON Pointers and messages, the form the
// runtime's API and pages report. No type of the validator library
// appears in this package's API.
//
// In the flow files → spec → layers → runtime, it sits beside spec/tree,
// under spec: spec checks a workspace's schemas with it when it loads,
// layers checks the schemas an override merges, and the runtime validates
// inputs, outputs and connection parameters with the compiled Validators.
package schema
