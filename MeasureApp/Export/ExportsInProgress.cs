namespace MeasureApp.Export;

/// <summary>
/// Keeps exports and deletes of one measurement apart on this instance: a delete is refused while an
/// export of the measurement is being written (the API answers 409), and an export does not start while
/// the measurement is being deleted. Both checks and the start are one atomic step, so neither can slip
/// between the other's check and its work. An export running on another instance is not seen here; if
/// its data is deleted under it, that download is aborted (never a shorter file with 200).
/// </summary>
public sealed class ExportsInProgress
{
    // Positive: that many exports are running; -1: a delete is under way.
    private readonly Dictionary<Guid, int> _use = [];
    private readonly Lock _gate = new();

    /// <summary>Marks an export of <paramref name="measurementId"/> as running until the lease is disposed;
    /// null while the measurement is being deleted.</summary>
    public IDisposable? TryBeginExport(Guid measurementId)
    {
        lock (_gate)
        {
            var n = _use.GetValueOrDefault(measurementId);
            if (n < 0)
            {
                return null;
            }
            _use[measurementId] = n + 1;
        }
        return new Lease(this, measurementId);
    }

    /// <summary>Marks <paramref name="measurementId"/> as being deleted until the lease is disposed;
    /// null while an export of it is running.</summary>
    public IDisposable? TryBeginDelete(Guid measurementId)
    {
        lock (_gate)
        {
            if (_use.ContainsKey(measurementId))
            {
                return null;
            }
            _use[measurementId] = -1;
        }
        return new Lease(this, measurementId);
    }

    /// <summary>True while an export of <paramref name="measurementId"/> is being written on this instance.</summary>
    public bool IsExporting(Guid measurementId)
    {
        lock (_gate)
        {
            return _use.GetValueOrDefault(measurementId) > 0;
        }
    }

    private void End(Guid measurementId)
    {
        lock (_gate)
        {
            var n = _use[measurementId];
            if (n > 1)
            {
                _use[measurementId] = n - 1;
            }
            else
            {
                _use.Remove(measurementId);
            }
        }
    }

    private sealed class Lease(ExportsInProgress owner, Guid measurementId) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.End(measurementId);
            }
        }
    }
}
