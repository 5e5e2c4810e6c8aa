using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace MeasureApp.Tests.Infrastructure;

/// <summary>
/// Every log line of a test app, formatted as the console would print its message (the newest 20,000):
/// tests of what reaches the log (forged lines, logged reasons) read it.
/// </summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private const int Keep = 20_000;
    private readonly ConcurrentQueue<CapturedLog> _lines = new();

    /// <summary>Lines so far, oldest first.</summary>
    public IReadOnlyList<CapturedLog> Lines => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(CapturedLog line)
    {
        _lines.Enqueue(line);
        while (_lines.Count > Keep && _lines.TryDequeue(out _))
        {
        }
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner.Add(new CapturedLog(category, logLevel, formatter(state, exception)));
            }
        }
    }
}

/// <summary>One captured log line.</summary>
public sealed record CapturedLog(string Category, LogLevel Level, string Message);
