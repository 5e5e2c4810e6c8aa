using Microsoft.Extensions.Options;

namespace MeasureApp.Live;

/// <summary>
/// The server's live frame budget (issue 14): the drain loops of every tab with live charts share
/// <see cref="LiveOptions.FramesPerSecondPerServer"/> ticks per second, so with many tabs open each tab's rate is
/// lowered fairly (all alike, never below what the budget allows) instead of every tab slowing down unevenly on a
/// saturated CPU while clicks and other pages wait behind it. Only the count of drawing tabs is shared; no tab's data.
/// </summary>
public sealed class LiveFrameBudget(IOptions<LiveOptions> options)
{
    private static readonly TimeSpan Fastest = TimeSpan.FromSeconds(1.0 / UserSession.MaxFramesPerSecond);
    private int _tabs;

    /// <summary>Tabs whose drain loop runs now.</summary>
    public int Tabs => Volatile.Read(ref _tabs);

    /// <summary>Each tab's tick interval now: 1/60 s, or longer when the tabs share more than the budget.</summary>
    public TimeSpan Interval
    {
        get
        {
            var budget = options.Value.FramesPerSecondPerServer;
            var tabs = Tabs;
            if (budget <= 0 || tabs * UserSession.MaxFramesPerSecond <= budget)
            {
                return Fastest;
            }
            return TimeSpan.FromSeconds(tabs / (double)budget);
        }
    }

    /// <summary>A tab's drain loop starts; dispose the result when it ends.</summary>
    public IDisposable Join()
    {
        Interlocked.Increment(ref _tabs);
        return new Member(this);
    }

    private sealed class Member(LiveFrameBudget budget) : IDisposable
    {
        private int _left;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) == 0)
            {
                Interlocked.Decrement(ref budget._tabs);
            }
        }
    }
}
