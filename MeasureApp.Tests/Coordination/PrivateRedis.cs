using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MeasureApp.Tests.Storage;

namespace MeasureApp.Tests.Coordination;

/// <summary>
/// A redis-server of the test's own (temp folder, free loopback port, no persistence), so the test
/// may kill -9 and restart it without touching the shared dev server.
/// </summary>
internal sealed class PrivateRedis : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "measureapp-redis-" + Guid.NewGuid().ToString("N")[..12]);
    private Process? _server;

    private PrivateRedis(int port) => Port = port;

    public int Port { get; }

    /// <summary>StackExchange.Redis configuration string of this server.</summary>
    public string ConnectionString => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000";

    public static async Task<PrivateRedis> StartAsync()
    {
        var redis = new PrivateRedis(FreePort());
        Directory.CreateDirectory(redis._directory);
        await redis.StartServerAsync();
        return redis;
    }

    /// <summary>Starts the server (again, on the same port) and waits until it answers PING.</summary>
    public async Task StartServerAsync()
    {
        var start = new ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _directory })
        {
            start.ArgumentList.Add(arg);
        }
        _server = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        _server.OutputDataReceived += (_, _) => { };
        _server.ErrorDataReceived += (_, _) => { };
        _server.BeginOutputReadLine();
        _server.BeginErrorReadLine();
        await Eventually.TrueAsync(AnswersPingAsync, $"redis-server answers on port {Port}", TimeSpan.FromSeconds(20));
    }

    /// <summary>kill -9: the server vanishes without closing anything.</summary>
    public async Task KillAsync()
    {
        var server = _server ?? throw new InvalidOperationException("The server is not running.");
        server.Kill();
        await server.WaitForExitAsync();
        server.Dispose();
        _server = null;
    }

    public void Dispose()
    {
        if (_server is { } server)
        {
            server.Kill();
            server.WaitForExit();
            server.Dispose();
        }
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Left for the OS to clean.
        }
    }

    private async Task<bool> AnswersPingAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[7];
            var read = await stream.ReadAsync(buffer);
            return read >= 5 && System.Text.Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>A loopback port nobody listens on (also how the tests get an unreachable Redis).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
