"""The one exception type for mistakes a user can make (bad option, bad file, bad grid), and the
decorator that turns them into a one-line message and exit code 2 in every command, never a
traceback."""

import functools
import signal
import sys
import threading

import click

EXIT_USAGE = 2


class InputError(ValueError):
    """Invalid user input: the message says what was expected."""


class StoreDamage(InputError):
    """A cache whose own metadata no longer reads: a problem ``scatter-cache verify`` reports (exit 1),
    an error that every other command stops on (exit 2)."""


class ClusterLost(RuntimeError):
    """The Dask scheduler (or the connection to it) went away during a run: the maps it had not
    returned stay pending, and the same command resumes them (exit EXIT_CLUSTER_LOST)."""


EXIT_CLUSTER_LOST = 75
"""sysexits EX_TEMPFAIL: a temporary failure, rerun."""


def describe(err: BaseException) -> str:
    """One line for any exception: its type and the first line of its message."""
    message = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


class Terminated(KeyboardInterrupt):
    """SIGTERM (a batch system's time limit, ``kill``), unwound like Ctrl-C so that clusters and
    files are closed on the way out."""


def _terminate(signum, frame):
    raise Terminated


def user_errors(command):
    """Turn a user's mistake into one line on stderr and exit code 2; a lost cluster, Ctrl-C and
    SIGTERM into one line each (exit 75, 130 and 143) after everything already computed is stored."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        previous = signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() else None
        try:
            return command(*args, **kwargs)
        except Terminated:
            click.echo("terminated (SIGTERM): rerun the same command to resume", err=True)
            sys.exit(143)
        except ClusterLost as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_CLUSTER_LOST)
        except InputError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(EXIT_USAGE)
        except PermissionError as err:
            click.echo(f"error: permission denied: {err.filename or err}", err=True)
            sys.exit(EXIT_USAGE)
        except OSError as err:
            if err.errno is None:
                raise
            click.echo(f"error: {err.strerror} ({err.filename or 'output store'}); nothing already stored was lost", err=True)
            sys.exit(EXIT_USAGE)
        except KeyboardInterrupt:
            click.echo("interrupted: rerun the same command to resume", err=True)
            sys.exit(130)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper
