package natsserver

import (
	"context"
	"fmt"
	"log/slog"
)

// logger adapts the server's printf-style log to slog, and reports the
// server's fatal errors to Start instead of exiting the process.
type logger struct {
	log   *slog.Logger
	fatal chan string
}

func newLogger(l *slog.Logger) *logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &logger{log: l.With("component", "nats-server"), fatal: make(chan string, 1)}
}

// debug reports whether debug records are wanted, so the server formats
// them only then.
func (l *logger) debug() bool { return l.log.Enabled(context.Background(), slog.LevelDebug) }

func (l *logger) emit(level slog.Level, format string, v []any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...))
}

// Noticef logs at info level.
func (l *logger) Noticef(format string, v ...any) { l.emit(slog.LevelInfo, format, v) }

// Warnf logs at warn level.
func (l *logger) Warnf(format string, v ...any) { l.emit(slog.LevelWarn, format, v) }

// Errorf logs at error level.
func (l *logger) Errorf(format string, v ...any) { l.emit(slog.LevelError, format, v) }

// Debugf logs at debug level.
func (l *logger) Debugf(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }

// Tracef logs at debug level (tracing is never switched on).
func (l *logger) Tracef(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }

// Fatalf logs at error level and hands the first fatal error to Start; it
// does not exit.
func (l *logger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg)
	select {
	case l.fatal <- msg:
	default:
	}
}
