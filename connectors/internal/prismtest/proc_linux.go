package prismtest

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill Prism when the test binary dies
// without running its cleanup (a -timeout panic, a kill).
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
