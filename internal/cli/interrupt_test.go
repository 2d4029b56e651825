package cli

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"
)

// A signal before polling begins ends the run with status 130; after
// polling began, signals are left to the polling loop.
func TestInterruptEarly(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	env := Env{Signals: sigs}

	ctx, polling := interruptEarly(context.Background(), env)
	sigs <- syscall.SIGINT
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a signal before polling did not end the run")
	}
	var ee *exitError
	if cause := context.Cause(ctx); !errors.As(cause, &ee) || ee.code != ExitInterrupted {
		t.Errorf("cause %v, want an exit with status %d", cause, ExitInterrupted)
	}
	polling()

	ctx, polling = interruptEarly(context.Background(), env)
	polling()
	polling() // twice is harmless
	sigs <- syscall.SIGINT
	time.Sleep(50 * time.Millisecond)
	if ctx.Err() != nil {
		t.Error("a signal after polling began ended the run; the polling loop should have it")
	}
	if len(sigs) != 1 {
		t.Error("the signal was taken from the polling loop")
	}
}
