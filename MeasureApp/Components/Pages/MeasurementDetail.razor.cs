using System.Globalization;
using System.Text.Json;
using MeasureApp;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Components;
using MeasureApp.Components.Layout;
using MeasureApp.Components.Live;
using MeasureApp.Data;
using MeasureApp.History;
using MeasureApp.Live;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.JSInterop;
using MudBlazor;
using Plotly.Blazor;
using Plotly.Blazor.Interop;
using Plotly.Blazor.LayoutLib;
using Plotly.Blazor.Traces;

namespace MeasureApp.Components.Pages;

/// <summary>Code of the MeasurementDetail page (markup in MeasurementDetail.razor).</summary>
public sealed partial class MeasurementDetail
{
    /// <summary>Pixel columns asked of the server: about the chart's width on a desktop screen.</summary>
    private const int PixelWidth = 1500;

    private PlotlyChart? chart;
    private MeasurementRecord? record;
    private IReadOnlyList<ChannelInfo> channels = [];
    private bool notFound;
    // A reader's share was revoked while the page was open: everything of the measurement goes at once.
    private bool revoked;
    private bool loading = true;
    private bool subscribed;
    private string caption = "";
    private double? viewFrom;
    private double? viewTo;
    private (double From, double To)? cursorSpan;
    private int requestVersion;
    private readonly CancellationTokenSource disposed = new();
    private readonly Config config = new() { Responsive = true, DisplayLogo = false };
    private Plotly.Blazor.Layout layout = new();
    private readonly List<ITrace> data = [];
    // A running measurement's fault counts come from the engine (the stored ones are saved only at the stop).
    private IReadOnlyDictionary<string, long>? liveFaults;
    private long? liveBursts;
    private IDisposable? faultWatch;

    [Parameter]
    public Guid Id { get; set; }

    protected override async Task OnParametersSetAsync()
    {
        loading = true;
        record = await History.FindAsync(await Me.GetAsync(), Id, disposed.Token);
        notFound = record is null;
        if (record is null)
        {
            loading = false;
            return;
        }
        channels = HistoryService.Channels(record);
        WatchLiveFaults(await Me.GetAsync());
        layout = new Plotly.Blazor.Layout
        {
            Height = 420,
            Margin = new Plotly.Blazor.LayoutLib.Margin { L = 60, R = 20, T = 10, B = 45 },
            XAxis = [new XAxis { Title = new Plotly.Blazor.LayoutLib.XAxisLib.Title { Text = "time since start [s]" } }],
            YAxis = [new YAxis { Title = new Plotly.Blazor.LayoutLib.YAxisLib.Title { Text = channels.Count > 0 ? channels[0].Unit : "" } }],
            ShowLegend = channels.Count > 1,
        };
        if (!record.DataExpired)
        {
            var range = await History.ReadAsync(record, null, null, PixelWidth, disposed.Token);
            data.Clear();
            data.AddRange(ToTraces(range));
            caption = Caption(range);
        }
        loading = false;
    }

    // The engine tells the owner's watchers of every new fault burst and its final count, and of the stop.
    private void WatchLiveFaults(Requester me)
    {
        if (record is not { State: MeasurementState.Running } || Engine.Find(record.Id, me) is not { } running)
        {
            return;
        }
        liveFaults = running.Faults;
        liveBursts = running.FaultBursts;
        faultWatch ??= Engine.Watch(record.OwnerId, info =>
        {
            if (info.Id == Id)
            {
                Dispatch(() =>
                {
                    liveFaults = info.Faults;
                    liveBursts = info.FaultBursts;
                    StateHasChanged();
                });
            }
        });
    }

    // Subscribe once Plotly has drawn the plot: events before that have no handler on the JS side.
    private void OnPlotRendered() => Dispatch(async () =>
    {
        if (subscribed || chart is null)
        {
            return;
        }
        subscribed = true;
        await chart.SubscribeRelayoutEvent();
    });

    private void OnRelayout(RelayoutEventData e)
    {
        var (from, to, reset) = ReadRange(e);
        if (reset)
        {
            Dispatch(ResetZoomAsync);
        }
        else if (from is { } f && to is { } t && t > f && !(viewFrom is { } vf && viewTo is { } vt && Math.Abs(vf - f) < 1e-12 && Math.Abs(vt - t) < 1e-12))
        {
            Dispatch(() => LoadRangeAsync(f, t));
        }
    }

    private async Task ResetZoomAsync()
    {
        await LoadRangeAsync(null, null);
    }

    private async Task LoadRangeAsync(double? from, double? to)
    {
        if (record is null || chart is null)
        {
            return;
        }
        var version = ++requestVersion;
        viewFrom = from;
        viewTo = to;
        loading = true;
        StateHasChanged();
        try
        {
            var range = await History.ReadAsync(record, from, to, PixelWidth, disposed.Token);
            if (version != requestVersion)
            {
                // A newer zoom superseded this one.
                return;
            }
            // The chart holds these very objects as its parameters: change them in place, then React.
            data.Clear();
            foreach (var trace in ToTraces(range))
            {
                data.Add(trace);
            }
            caption = Caption(range);
            var x = layout.XAxis[0];
            if (from is { } f && to is { } t)
            {
                x.AutoRange = Plotly.Blazor.LayoutLib.XAxisLib.AutoRangeEnum.False;
                x.Range = [f, t];
            }
            else
            {
                x.AutoRange = Plotly.Blazor.LayoutLib.XAxisLib.AutoRangeEnum.True;
                x.Range = null;
            }
            layout.YAxis[0].AutoRange = Plotly.Blazor.LayoutLib.YAxisLib.AutoRangeEnum.True;
            await chart.React();
        }
        catch (OperationCanceledException) when (disposed.IsCancellationRequested)
        {
            return;
        }
        finally
        {
            if (version == requestVersion)
            {
                loading = false;
                StateHasChanged();
            }
        }
    }

    private List<ITrace> ToTraces(DecimatedRange range)
    {
        var times = range.Times ?? new SampleRuns([], 0, record!.SampleRate);
        var traces = new List<ITrace>(range.Channels.Count);
        foreach (var ch in range.Channels)
        {
            var info = ch.Channel < channels.Count ? channels[ch.Channel] : new ChannelInfo($"ch{ch.Channel + 1}", "");
            var xs = new List<object>(ch.Indices.Count);
            var ys = new List<object>(ch.Values.Count);
            // Each point at its own stored time; a null value breaks the line where a gap lies.
            foreach (var (seconds, value) in times.Line(ch.Indices, ch.Values))
            {
                xs.Add(seconds);
                ys.Add(float.IsNaN(value) ? null! : (double)value);
            }
            traces.Add(new Scatter
            {
                Name = $"{info.Name} [{info.Unit}]",
                Mode = Plotly.Blazor.Traces.ScatterLib.ModeFlag.Lines,
                X = xs,
                Y = ys,
            });
        }
        return traces;
    }

    private static string Caption(DecimatedRange range)
    {
        var points = range.Channels.Sum(c => c.Indices.Count);
        var source = range.Level == 0 ? "raw samples" : $"pyramid level {range.Level}";
        return string.Create(CultureInfo.InvariantCulture,
            $"{source} · {points:N0} points · {range.ColumnStarts.Count:N0} columns · samples {range.FromIndex:N0}–{range.ToIndex:N0} · {range.RawSamplesRead:N0} raw samples read");
    }

    private static (double? From, double? To, bool Reset) ReadRange(RelayoutEventData e)
    {
        var raw = e.RawData;
        if (raw is not null && raw.Keys.Any(k => k == "xaxis.autorange") && ToDouble(e.XRange?.ElementAtOrDefault(0)) is null)
        {
            return (null, null, true);
        }
        var from = ToDouble(e.XRange?.ElementAtOrDefault(0));
        var to = ToDouble(e.XRange?.ElementAtOrDefault(1));
        // The interop drops a "[0]" value of 0 (it tests truthiness), so read the raw keys too.
        if ((from is null || to is null) && raw is not null)
        {
            from ??= raw.TryGetValue("xaxis.range[0]", out var a) ? ToDouble(a) : null;
            to ??= raw.TryGetValue("xaxis.range[1]", out var b) ? ToDouble(b) : null;
        }
        return (from, to, false);
    }

    private static double? ToDouble(object? value) => value switch
    {
        null => null,
        double d => d,
        JsonElement { ValueKind: JsonValueKind.Number } j => j.GetDouble(),
        JsonElement { ValueKind: JsonValueKind.String } j when double.TryParse(j.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var p) => p,
        IConvertible c => c.ToDouble(CultureInfo.InvariantCulture),
        _ => null,
    };

    // The export dialog starts at the current zoom; the server re-checks ownership and the range.
    private Task OpenExportAsync() => OpenExportAsync(cursorSpan?.From ?? viewFrom, cursorSpan?.To ?? viewTo);

    private async Task OpenExportAsync(double? from, double? to)
    {
        if (record is null)
        {
            return;
        }
        var me = await Me.GetAsync();
        var parameters = new DialogParameters<MeasureApp.Components.Live.ExportDialog>
        {
            { d => d.MeasurementName, record.Name },
            { d => d.Channels, channels },
            { d => d.DurationSeconds, record.SampleRate > 0 ? record.SampleCount / record.SampleRate : 0 },
            { d => d.SampleRate, record.SampleRate },
            // The span between the cursors, else the zoom (or an annotation's range).
            { d => d.ZoomFrom, from },
            { d => d.ZoomTo, to },
            { d => d.Prepare, query => Exports.StartAsync(me, Id, query, disposed.Token) },
            { d => d.Cancel, e => Exports.Cancel(e, me.UserId) },
        };
        await Dialogs.ShowAsync<MeasureApp.Components.Live.ExportDialog>("Export", parameters,
            new DialogOptions { MaxWidth = MaxWidth.Medium, CloseOnEscapeKey = true, BackdropClick = false });
    }

    private void OnShareRevoked()
    {
        revoked = true;
        loading = false;
        record = null;
        data.Clear();
        disposed.Cancel();
        StateHasChanged();
    }

    private static string FormatRate(double hz) => hz >= 1000 ? $"{hz / 1000:0.###} kHz" : $"{hz:0.###} Hz";

    private static string FormatDuration(MeasurementRecord m)
    {
        var seconds = m.SampleRate > 0 && m.SampleCount > 0 ? m.SampleCount / m.SampleRate
            : ((m.StoppedAt ?? DateTimeOffset.UtcNow) - m.StartedAt).TotalSeconds;
        return TimeSpan.FromSeconds(Math.Max(0, seconds)).ToString(@"hh\:mm\:ss\.fff", CultureInfo.InvariantCulture);
    }

    public void Dispose()
    {
        faultWatch?.Dispose();
        disposed.Cancel();
        disposed.Dispose();
    }
}
