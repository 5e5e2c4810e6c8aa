using System.Collections.Concurrent;
using MeasureApp.Limits;

namespace MeasureApp.Live;

/// <summary>
/// The live bandwidth limit (SPEC §6): one token bucket per user, shared by all of the user's tabs
/// on this instance, filled at the user's bytes-per-second limit with up to one second of burst.
/// A tab asks before rendering; over budget it skips the render and its frames keep merging, so
/// the frame rate (and with a short window the resolution) drops, while acquisition and storage
/// never notice. The limit is re-read every <see cref="LimitRefresh"/> in the background, so an
/// admin's change applies to open tabs within seconds. Holds only numbers per user id.
/// </summary>
public sealed class LiveBandwidthGovernor(LimitsService limits, TimeProvider time, ILogger<LiveBandwidthGovernor> logger)
{
    /// <summary>How long a user's limit is used before it is read again.</summary>
    public static readonly TimeSpan LimitRefresh = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    /// <summary>
    /// True when the user's budget allows a render now. The first call for a user reads the limit;
    /// later calls never wait (a due refresh runs in the background).
    /// </summary>
    public async ValueTask<bool> TryRenderAsync(string userId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(userId);
        var bucket = _buckets.GetOrAdd(userId, _ => new Bucket());
        if (!bucket.HasLimit)
        {
            await RefreshAsync(userId, bucket, cancellationToken);
        }
        else if (bucket.RefreshDue(time, LimitRefresh))
        {
            _ = RefreshAsync(userId, bucket, CancellationToken.None);
        }
        return bucket.HasBudget(time);
    }

    /// <summary>Charges bytes sent to the user's browser.</summary>
    public void Charge(string userId, long bytes)
    {
        ArgumentNullException.ThrowIfNull(userId);
        _buckets.GetOrAdd(userId, _ => new Bucket()).Take(time, bytes);
    }

    /// <summary>The limit in force for a user, or null when none was read yet.</summary>
    public long? LimitOf(string userId) => _buckets.TryGetValue(userId, out var b) && b.HasLimit ? b.Limit : null;

    private async Task RefreshAsync(string userId, Bucket bucket, CancellationToken cancellationToken)
    {
        if (!bucket.BeginRefresh(time))
        {
            return;
        }
        try
        {
            var userLimits = await limits.GetAsync(userId, cancellationToken);
            bucket.SetLimit(time, userLimits.MaxLiveBytesPerSecond);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Keep the limit known so far (or the default) and try again at the next refresh.
            logger.LogWarning(ex, "Could not read the live bandwidth limit of {User}", userId);
            bucket.SetLimit(time, bucket.HasLimit ? bucket.Limit : limits.Defaults.MaxLiveBytesPerSecond);
        }
        finally
        {
            bucket.EndRefresh();
        }
    }

    private sealed class Bucket
    {
        private readonly Lock _gate = new();
        private long _limit = -1;
        private double _tokens;
        private long _filledAt;
        private long _limitReadAt;
        private bool _refreshing;

        public bool HasLimit
        {
            get
            {
                lock (_gate)
                {
                    return _limit >= 0;
                }
            }
        }

        public long Limit
        {
            get
            {
                lock (_gate)
                {
                    return _limit;
                }
            }
        }

        public bool RefreshDue(TimeProvider time, TimeSpan every)
        {
            lock (_gate)
            {
                return !_refreshing && time.GetElapsedTime(_limitReadAt) >= every;
            }
        }

        public bool BeginRefresh(TimeProvider time)
        {
            lock (_gate)
            {
                if (_refreshing)
                {
                    return false;
                }
                _refreshing = true;
                // A failing read is not retried on every tick, only at the next refresh.
                _limitReadAt = time.GetTimestamp();
                return true;
            }
        }

        public void EndRefresh()
        {
            lock (_gate)
            {
                _refreshing = false;
            }
        }

        public void SetLimit(TimeProvider time, long bytesPerSecond)
        {
            lock (_gate)
            {
                var first = _limit < 0;
                Fill(time);
                _limit = Math.Max(1, bytesPerSecond);
                // A new user starts with a full second of budget; a lowered limit also caps what was saved.
                _tokens = first ? _limit : Math.Min(_tokens, _limit);
            }
        }

        public bool HasBudget(TimeProvider time)
        {
            lock (_gate)
            {
                if (_limit < 0)
                {
                    return true;
                }
                Fill(time);
                return _tokens > 0;
            }
        }

        public void Take(TimeProvider time, long bytes)
        {
            lock (_gate)
            {
                Fill(time);
                // May go negative: a large render is paid for by waiting before the next one.
                _tokens -= bytes;
            }
        }

        private void Fill(TimeProvider time)
        {
            var now = time.GetTimestamp();
            if (_limit >= 0 && _filledAt != 0)
            {
                var seconds = (double)(now - _filledAt) / time.TimestampFrequency;
                _tokens = Math.Min(_limit, _tokens + (seconds * _limit));
            }
            _filledAt = now;
        }
    }
}
