// Command pause is the sandbox ("pause") container of the real test node: it holds the pod's
// namespaces and does nothing else. Upstream's pause is a small C program
// (k8s.io/kubernetes build/pause/linux/pause.c); this static Go equivalent sleeps until SIGTERM,
// SIGINT or SIGHUP and exits 0, so a pod stops at once instead of waiting for SIGKILL. As PID 1
// of the pod it also reaps zombies (SIGCHLD), as upstream's does.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (modelops-testcluster)")
		return
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
