using MeasureApp.Export;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Export;

/// <summary>The export dialog's progress ticks, on a fake clock: while the work runs, and never after.</summary>
public sealed class ExportProgressTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task ProgressIsReportedEveryIntervalWhileTheWorkRunsAndNotAfterItFinished()
    {
        var work = new TaskCompletionSource();
        var ticks = 0;
        var follow = new ExportProgress(_time).FollowAsync(work.Task, () => Interlocked.Increment(ref ticks), CancellationToken.None);

        _time.Advance(ExportProgress.Interval / 2);
        Assert.Equal(0, ticks);
        for (var i = 0; i < 3; i++)
        {
            _time.Advance(ExportProgress.Interval);
        }
        Assert.Equal(3, ticks);
        Assert.False(follow.IsCompleted);

        work.SetResult();
        await follow;
        _time.Advance(ExportProgress.Interval * 10);
        Assert.Equal(3, ticks);
    }

    [Fact]
    public async Task AFailedExportEndsTheFollowingWithoutThrowingItsFailure()
    {
        var work = new TaskCompletionSource();
        var follow = new ExportProgress(_time).FollowAsync(work.Task, () => { }, CancellationToken.None);

        work.SetException(new InvalidOperationException("disk full"));

        await follow;
        Assert.True(follow.IsCompletedSuccessfully);
    }

    [Fact]
    public async Task ClosingTheDialogStopsTheTicksWhileTheWorkGoesOn()
    {
        var work = new TaskCompletionSource();
        var ticks = 0;
        using var closing = new CancellationTokenSource();
        var follow = new ExportProgress(_time).FollowAsync(work.Task, () => Interlocked.Increment(ref ticks), closing.Token);
        _time.Advance(ExportProgress.Interval);

        await closing.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => follow);
        _time.Advance(ExportProgress.Interval * 5);
        Assert.Equal(1, ticks);
        Assert.False(work.Task.IsCompleted);
    }
}
