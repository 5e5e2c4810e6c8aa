using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MeasureApp.Bench.Load.Circuits;

/// <summary>
/// One browser tab without a browser: loads a page over HTTP with the user's cookies, opens a Blazor
/// Server circuit for its interactive root components over the real hub (/_blazor, WebSockets,
/// blazorpack), acknowledges every render batch, and answers every JS call the page makes the way a
/// browser that does nothing would (module imports get object references, everything else
/// succeeds with no value). Calls to one JS function (<see cref="CountedCall"/>) are counted per
/// target (first argument), which is how the live charts' frames and the bare page's ticks are seen.
/// </summary>
internal sealed partial class HeadlessCircuit : IAsyncDisposable
{
    private readonly HubConnection _connection;
    private readonly ConcurrentDictionary<string, Target> _targets = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _rootsAdded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _nextObjectId = 1;
    private long _renders;
    private long _renderBytes;
    private long _jsCalls;
    private long _errors;
    private string? _lastError;

    private HeadlessCircuit(HubConnection connection, string countedCall)
    {
        _connection = connection;
        CountedCall = countedCall;
    }

    /// <summary>The JS function whose calls are counted per first argument.</summary>
    public string CountedCall { get; }

    /// <summary>Render batches received (and acknowledged).</summary>
    public long Renders => Interlocked.Read(ref _renders);

    /// <summary>Bytes of render batches received.</summary>
    public long RenderBytes => Interlocked.Read(ref _renderBytes);

    /// <summary>JS calls received (all functions).</summary>
    public long JsCalls => Interlocked.Read(ref _jsCalls);

    /// <summary>Errors the server reported to this circuit (JS.Error) or the connection closed with.</summary>
    public long Errors => Interlocked.Read(ref _errors);

    /// <summary>The last of <see cref="Errors"/>, if any.</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>Whether the hub connection is still up.</summary>
    public bool Connected => _connection.State == HubConnectionState.Connected;

    /// <summary>Counted calls per target so far.</summary>
    public IReadOnlyDictionary<string, Target> Targets => _targets;

    /// <summary>
    /// Loads <paramref name="path"/> with the cookies of <paramref name="cookies"/> and starts its circuit;
    /// returns once the server acknowledged the root components.
    /// </summary>
    public static async Task<HeadlessCircuit> OpenAsync(Uri baseAddress, CookieContainer cookies, string path, string countedCall, CancellationToken cancellationToken)
    {
        var pageUri = new Uri(baseAddress, path);
        string html;
        using (var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies, UseCookies = true, AllowAutoRedirect = false }, disposeHandler: true))
        {
            using var response = await http.GetAsync(pageUri, cancellationToken);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"GET {path} answered {(int)response.StatusCode} {response.Headers.Location}");
            }
            html = await response.Content.ReadAsStringAsync(cancellationToken);
        }
        var markers = StartMarker().Matches(html).Select(m => m.Groups[1].Value).Where(IsStartMarker).ToList();
        if (markers.Count == 0)
        {
            throw new InvalidOperationException($"GET {path} has no interactive server components (is the user logged in?)");
        }
        var state = ServerState().Match(html) is { Success: true } s ? s.Groups[1].Value : "";

        var builder = new HubConnectionBuilder()
            .WithUrl(new Uri(baseAddress, "_blazor"), HttpTransportType.WebSockets, o =>
            {
                o.Cookies = cookies;
                o.SkipNegotiation = true;
            });
        builder.Services.RemoveAll<IHubProtocol>();
        builder.Services.AddSingleton<IHubProtocol>(new BlazorPackProtocol());
        var connection = builder.Build();
        // A saturated server answers late; the load run judges that by its rates, not by dropping circuits.
        connection.ServerTimeout = TimeSpan.FromMinutes(2);
        var circuit = new HeadlessCircuit(connection, countedCall);
        circuit.Subscribe();
        await connection.StartAsync(cancellationToken);
        var id = await connection.InvokeAsync<string?>("StartCircuit", baseAddress.ToString(), pageUri.ToString(), "[]", state, cancellationToken);
        if (string.IsNullOrEmpty(id))
        {
            var error = circuit.LastError;
            await circuit.DisposeAsync();
            throw new InvalidOperationException($"The server refused the circuit for {path}: {error ?? "no reason given"}");
        }
        var operations = new StringBuilder("{\"batchId\":1,\"operations\":[");
        for (var i = 0; i < markers.Count; i++)
        {
            operations.Append(i > 0 ? "," : "").Append(CultureInfo.InvariantCulture, $"{{\"type\":\"add\",\"ssrComponentId\":{i + 1},\"marker\":").Append(markers[i]).Append('}');
        }
        operations.Append("]}");
        await connection.SendAsync("UpdateRootComponents", operations.ToString(), state, cancellationToken);
        await circuit._rootsAdded.Task.WaitAsync(TimeSpan.FromMinutes(2), cancellationToken);
        return circuit;
    }

    private static bool IsStartMarker(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.TryGetProperty("type", out var type) && type.GetString() == "server";
    }

    private void Subscribe()
    {
        _connection.On<long, byte[]>("JS.RenderBatch", async (batchId, data) =>
        {
            Interlocked.Increment(ref _renders);
            Interlocked.Add(ref _renderBytes, data.Length);
            await _connection.SendAsync("OnRenderCompleted", batchId, null);
        });
        _connection.On<long, string, string, int, long, int>("JS.BeginInvokeJS", async (handle, identifier, argsJson, resultType, _, _) =>
        {
            Interlocked.Increment(ref _jsCalls);
            if (identifier == CountedCall)
            {
                Count(argsJson);
            }
            if (handle == 0)
            {
                return;
            }
            // 1 = a JS object reference (module imports, Plotly.Blazor's objects); anything else: no value.
            var result = resultType == 1
                ? string.Create(CultureInfo.InvariantCulture, $"{{\"__jsObjectId\":{Interlocked.Increment(ref _nextObjectId)}}}")
                : "null";
            await _connection.SendAsync("EndInvokeJSFromDotNet", handle, true, string.Create(CultureInfo.InvariantCulture, $"[{handle},true,{result}]"));
        });
        _connection.On<long>("JS.EndUpdateRootComponents", _ => _rootsAdded.TrySetResult());
        _connection.On<string, bool, string>("JS.EndInvokeDotNet", (_, _, _) => { });
        _connection.On<int, byte[]>("JS.ReceiveByteArray", (_, _) => { });
        _connection.On<int, bool>("JS.EndLocationChanging", (_, _) => { });
        _connection.On<string>("JS.Error", message =>
        {
            Interlocked.Increment(ref _errors);
            Volatile.Write(ref _lastError, message);
            _rootsAdded.TrySetException(new InvalidOperationException($"The circuit failed: {message}"));
        });
        _connection.Closed += ex =>
        {
            if (ex is not null)
            {
                Interlocked.Increment(ref _errors);
                Volatile.Write(ref _lastError, ex.Message);
            }
            _rootsAdded.TrySetException(new InvalidOperationException($"The connection closed: {ex?.Message ?? "by the server"}"));
            return Task.CompletedTask;
        };
    }

    // ["<target>", …]: the target is the first argument (a chart id, or the bare page's tick name).
    // [["<target>", …], …]: a batch (liveChart.js extendMany): every target in the first argument is counted,
    // each with its position, so its own columns can be read back from the arguments.
    private void Count(string argsJson)
    {
        var batch = argsJson.Length > 1 && argsJson[1] == '[';
        var close = batch ? argsJson.IndexOf(']', StringComparison.Ordinal) : argsJson.Length;
        var position = 0;
        for (var start = argsJson.IndexOf('"', StringComparison.Ordinal); start >= 0 && start < close; position++)
        {
            var end = argsJson.IndexOf('"', start + 1);
            if (end < 0)
            {
                break;
            }
            _targets.GetOrAdd(argsJson[(start + 1)..end], _ => new Target()).Record(argsJson, batch ? position : -1);
            if (!batch)
            {
                break;
            }
            start = argsJson.IndexOf('"', end + 1);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            await _connection.StopAsync();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Closing a connection the server already dropped.
        }
        await _connection.DisposeAsync();
    }

    [GeneratedRegex(@"<!--Blazor:(\{.*?\})-->", RegexOptions.Singleline)]
    private static partial Regex StartMarker();

    [GeneratedRegex(@"<!--Blazor-Server-Component-State:([A-Za-z0-9+/=]+)-->")]
    private static partial Regex ServerState();

    /// <summary>Counted calls to one target, with the last call's arguments kept for a latency reading.</summary>
    public sealed class Target
    {
        private long _calls;
        private string _lastArgs = "";
        private int _lastPosition = -1;
        private long _lastAt;
        private readonly object _gate = new();

        /// <summary>Calls so far.</summary>
        public long Calls => Interlocked.Read(ref _calls);

        /// <summary>
        /// The arguments of the last call, the target's position in a batched call's arguments (−1: not batched)
        /// and when it arrived (<see cref="Stopwatch"/> ticks).
        /// </summary>
        public (string Args, int Position, long At) Last
        {
            get
            {
                lock (_gate)
                {
                    return (_lastArgs, _lastPosition, _lastAt);
                }
            }
        }

        internal void Record(string argsJson, int position)
        {
            Interlocked.Increment(ref _calls);
            lock (_gate)
            {
                _lastArgs = argsJson;
                _lastPosition = position;
                _lastAt = Stopwatch.GetTimestamp();
            }
        }
    }
}
