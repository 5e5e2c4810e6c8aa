using MeasureApp.Acquisition.Live;
using Microsoft.JSInterop;

namespace MeasureApp.Live;

/// <summary>
/// One JS interop call per tab and drain tick for all of the tab's live charts (issue 14): each chart
/// queues its frame while the tab's <see cref="UserSession"/> drains, and the session flushes the batch
/// once the tick's charts are drained. Per-call cost (serialising, the SignalR message, the browser's
/// acknowledgement and the awaited round trip) is then paid once per tick, not once per chart.
/// A chart that fails in the browser is told alone; the others keep drawing. Circuit-scoped: it holds
/// only this tab's frames.
/// </summary>
public sealed class LiveDrawBatch : IAsyncDisposable
{
    private readonly IJSRuntime _js;
    private readonly Lock _gate = new();
    private List<Entry> _queued = [];
    private IJSObjectReference? _module;

    /// <summary>Creates the tab's batch and hooks it to the end of the tab's drain ticks.</summary>
    public LiveDrawBatch(IJSRuntime js, UserSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        _js = js;
        session.AfterDrain = FlushAsync;
    }

    /// <summary>
    /// Queues <paramref name="frame"/> for the chart element <paramref name="chartId"/> (drawn by the next
    /// flush, keeping its newest <paramref name="maxPoints"/> per trace); <paramref name="fault"/> hears
    /// if the browser fails to draw it.
    /// </summary>
    public void Queue(string chartId, LiveFrame frame, int maxPoints, Action<Exception> fault)
    {
        lock (_gate)
        {
            _queued.Add(new Entry(chartId, frame, maxPoints, fault));
        }
    }

    /// <summary>
    /// Draws everything queued with one call to <c>js/liveChart.js</c>'s <c>extendMany</c>. The call carries the
    /// tab's <paramref name="cancellationToken"/> instead of the interop's default timeout: that timeout is a timer
    /// created and dropped per call, and at thousands of calls a second those timers contended for the runtime's
    /// timer-queue lock (issue 14 profile). A closing tab cancels the call; a browser that stops answering is
    /// the circuit's to end.
    /// </summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        List<Entry> batch;
        lock (_gate)
        {
            if (_queued.Count == 0)
            {
                return;
            }
            batch = _queued;
            _queued = [];
        }
        string?[]? failures;
        try
        {
            _module ??= await _js.InvokeAsync<IJSObjectReference>("import", cancellationToken, "./js/liveChart.js");
            failures = await _module.InvokeAsync<string?[]>("extendMany", cancellationToken,
                batch.Select(e => e.ChartId), batch.Select(e => e.Frame.X), batch.Select(e => e.Frame.Y), batch.Select(e => e.MaxPoints));
        }
        catch (Exception ex) when (ex is not JSDisconnectedException and not OperationCanceledException and not OutOfMemoryException)
        {
            // The batch as a whole failed (the module did not load, the call was refused): every chart in it is told.
            foreach (var e in batch)
            {
                e.Fault(ex);
            }
            return;
        }
        // null: every chart drew.
        for (var i = 0; failures is not null && i < batch.Count && i < failures.Length; i++)
        {
            if (failures[i] is { } message)
            {
                batch[i].Fault(new JSException(message));
            }
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => MeasureApp.Components.JsModules.ReleaseAsync(_module);

    private sealed record Entry(string ChartId, LiveFrame Frame, int MaxPoints, Action<Exception> Fault);
}
