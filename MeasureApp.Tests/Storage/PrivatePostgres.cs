using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace MeasureApp.Tests.Storage;

/// <summary>
/// A PostgreSQL cluster of the test's own (initdb + pg_ctl from MEASUREAPP_TEST_PGBIN, in a temp
/// folder, on a free loopback port), so the test may stop and start it without touching the shared
/// dev server. Runs the server as the <c>postgres</c> OS user when the test runs as root.
/// </summary>
internal sealed class PrivatePostgres : IDisposable
{
    private readonly string _bin;

    private readonly bool _durable;

    private PrivatePostgres(string bin, string directory, int port, bool durable)
    {
        _bin = bin;
        _durable = durable;
        DataDirectory = directory;
        Port = port;
    }

    public string DataDirectory { get; }

    public int Port { get; }

    public string ConnectionString => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = "postgres",
        Database = "postgres",
        Timeout = 5,
        CommandTimeout = 30,
    }.ConnectionString;

    /// <param name="durable">Keep PostgreSQL's default fsync settings (the crash bench); tests turn fsync off for speed.</param>
    public static async Task<PrivatePostgres> StartAsync(bool durable = false)
    {
        var bin = Environment.GetEnvironmentVariable("MEASUREAPP_TEST_PGBIN") is { Length: > 0 } b
            ? b
            : throw new InvalidOperationException("MEASUREAPP_TEST_PGBIN is not set: run the suite with scripts/test.sh (it points to the PostgreSQL binaries).");
        var directory = Path.Combine(Path.GetTempPath(), "measureapp-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        var pg = new PrivatePostgres(bin, directory, FreePort(), durable);
        try
        {
            if (Environment.UserName == "root")
            {
                await RunAsync("chown", ["postgres:postgres", directory], asPostgres: false);
            }
            await pg.RunPgAsync("initdb", "-D", directory, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8");
            await pg.StartServerAsync();
            return pg;
        }
        catch
        {
            pg.Dispose();
            throw;
        }
    }

    public Task StartServerAsync() => RunPgAsync("pg_ctl", "-D", DataDirectory, "-l", Path.Combine(DataDirectory, "server.log"), "-w", "-t", "60",
        "-o", $"-p {Port} -k {DataDirectory} -c listen_addresses=127.0.0.1" + (_durable ? "" : " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"), "start");

    /// <summary>Stops the server the way an administrator or a crash-restart does: open connections are cut.</summary>
    public Task StopServerAsync() => RunPgAsync("pg_ctl", "-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "stop");

    public void Dispose()
    {
        try
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                RunPgAsync("pg_ctl", "-D", DataDirectory, "-m", "immediate", "-w", "stop").GetAwaiter().GetResult();
            }
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }
        NpgsqlConnection.ClearAllPools();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // Temp folder; the OS cleans it.
        }
    }

    private Task RunPgAsync(string tool, params string[] args) => RunAsync(Path.Combine(_bin, tool), args, asPostgres: Environment.UserName == "root");

    private static async Task RunAsync(string file, string[] args, bool asPostgres)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", "postgres", "--", file })
            {
                start.ArgumentList.Add(a);
            }
        }
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }
        using var process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} failed ({process.ExitCode}): {await stdout} {await stderr}");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
