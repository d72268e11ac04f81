//go:build !linux

package prismtest

import "os/exec"

// killWithParent does nothing here: only Linux kills a child with its
// parent; TestMain's Close stops Prism on an orderly exit.
func killWithParent(*exec.Cmd) {}
