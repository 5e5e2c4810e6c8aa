using MeasureApp.Export;

namespace MeasureApp.Tests.Export;

public sealed class ExportsInProgressTests
{
    [Fact]
    public void ADeleteIsRefusedWhileAnyExportOfTheMeasurementRunsAndAllowedAfterTheLastEnds()
    {
        var running = new ExportsInProgress();
        var id = Guid.NewGuid();
        var first = running.TryBeginExport(id);
        var second = running.TryBeginExport(id);

        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.True(running.IsExporting(id));
        Assert.Null(running.TryBeginDelete(id));
        // Another measurement is not held back.
        using (var other = running.TryBeginDelete(Guid.NewGuid()))
        {
            Assert.NotNull(other);
        }

        first!.Dispose();
        first.Dispose(); // a lease ends once
        Assert.Null(running.TryBeginDelete(id));
        second!.Dispose();

        Assert.False(running.IsExporting(id));
        Assert.NotNull(running.TryBeginDelete(id));
    }

    [Fact]
    public void AnExportDoesNotStartWhileTheMeasurementIsBeingDeleted()
    {
        var running = new ExportsInProgress();
        var id = Guid.NewGuid();
        var deleting = running.TryBeginDelete(id);

        Assert.NotNull(deleting);
        Assert.Null(running.TryBeginExport(id));
        Assert.Null(running.TryBeginDelete(id));

        deleting!.Dispose();
        using var export = running.TryBeginExport(id);
        Assert.NotNull(export);
    }
}
