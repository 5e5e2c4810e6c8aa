using System.Data.Common;
using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace MeasureApp.Storage;

/// <summary>
/// Tells a database that is away (PostgreSQL down or restarting, SQLite locked or its disk full) from
/// a bug, so requests during an outage answer "the database is unavailable" (503) instead of 500,
/// and logins survive it. Running measurements are not affected: they live in memory and the spool.
/// </summary>
public static class DatabaseOutage
{
    /// <summary>The sentence users read during an outage.</summary>
    public const string Message = "The database is unavailable; try again once it is back. Running measurements keep running and are stored when it returns.";

    /// <summary>True when <paramref name="exception"/> (or one it wraps) says the database cannot be reached or used right now.</summary>
    public static bool IsOutage(Exception? exception)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            switch (ex)
            {
                case PostgresException pg:
                    // 08: connection exceptions; 53: insufficient resources; 57P: shutdown / cannot connect now.
                    return pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState.StartsWith("53", StringComparison.Ordinal)
                        || pg.SqlState.StartsWith("57P", StringComparison.Ordinal);
                case NpgsqlException:
                case SocketException:
                case TimeoutException:
                    return true;
                case SqliteException sqlite:
                    // BUSY, LOCKED, IOERR, FULL, CANTOPEN.
                    return sqlite.SqliteErrorCode is 5 or 6 or 10 or 13 or 14;
                case AggregateException aggregate when aggregate.InnerExceptions.Count == 1:
                    return IsOutage(aggregate.InnerExceptions[0]);
                case DbException:
                    return false;
            }
        }
        return false;
    }

    /// <summary>
    /// Middleware: an outage that escapes an endpoint answers 503 with a problem document (API) or a
    /// short page, never 500.
    /// </summary>
    public static IApplicationBuilder UseDatabaseOutageAnswers(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context);
        }
        catch (Exception ex) when (IsOutage(ex) && !context.Response.HasStarted)
        {
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(DatabaseOutage))
                .LogWarning("{Path} answered 503: the database is unavailable ({Reason})", context.Request.Path, ex.GetBaseException().Message);
            context.Response.Clear();
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = "5";
            if (context.Request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase))
            {
                await Results.Problem(title: "The database is unavailable", detail: Message, statusCode: StatusCodes.Status503ServiceUnavailable).ExecuteAsync(context);
            }
            else
            {
                context.Response.ContentType = "text/html; charset=utf-8";
                await context.Response.WriteAsync($"<!DOCTYPE html><html><head><title>Database unavailable</title></head><body><h1>The database is unavailable</h1><p>{Message}</p></body></html>");
            }
        }
    });
}
